"""A Hugging Face model folder (config.json, model.safetensors or pytorch_model.bin,
preprocessor_config.json) as a `LoadedNetwork`, through transformers when it is installed.

The config says the architecture (`AutoModelForObjectDetection`, or the model class it names);
weights are read by transformers with safetensors or `torch.load(weights_only=True)`, never
running code from the folder (`trust_remote_code=False`, local files only). The folder's own
image processor is the preprocessing and its post-processing the detection head
(`transformers_processing`). The network's layers are its multi-scale deformable attention
modules (`deformviz.probe.attention_layers`); the default is the last decoder layer.
"""

from __future__ import annotations

import json
from pathlib import Path

from deformviz.errors import CheckpointError, InputError

from .layer_family import default_attention_layer
from .loaded_network import LoadedNetwork

__all__ = ["is_transformers_folder", "load_transformers_folder", "INSTALL_HINT"]

INSTALL_HINT = 'pip install "deformviz[transformers]"'
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def is_transformers_folder(path: Path) -> bool:
    """A folder holding a Hugging Face config.json."""
    return path.is_dir() and (path / "config.json").is_file()


def _import_transformers():  # noqa: ANN202 - the module
    try:
        import transformers
    except ImportError:
        raise InputError("reading a Hugging Face model folder needs transformers: "
                         f"{INSTALL_HINT}") from None
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def _config_text(folder: Path) -> dict:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{folder}/config.json: unreadable ({error})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise CheckpointError(f"{folder}/config.json: no model_type; not a Hugging Face "
                              "model config")
    if "auto_map" in config:
        raise CheckpointError(f"{folder}: the model needs its own code (auto_map); deformviz "
                              "never runs code from a model folder")
    return config


def load_transformers_folder(folder: Path, device: str = "cpu") -> LoadedNetwork:
    """The model in `folder` with its image processor and post-processing.

    Raises:
        InputError: transformers is not installed (saying how to install it).
        CheckpointError: no weights file, no preprocessor_config.json, a model needing its own
            code, or a config or weights transformers cannot read.
    """
    config = _config_text(folder)
    weights = [name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        raise CheckpointError(f"{folder}: no weights ({' or '.join(WEIGHT_FILES[::2])})")
    if not (folder / "preprocessor_config.json").is_file():
        raise CheckpointError(f"{folder}: no preprocessor_config.json (the image processor "
                              "says how images are resized and normalised)")
    transformers = _import_transformers()
    from deformviz.probe import attention_layers

    try:
        processor = transformers.AutoImageProcessor.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False)
        model = transformers.AutoModelForObjectDetection.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False,
            weights_only=True).eval()
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{folder}: transformers cannot load it: {first}") from None
    from .transformers_processing import PostProcessingHead, ProcessorPreparation

    layers = attention_layers(model)
    if not layers:
        raise CheckpointError(f"{folder}: {type(model).__name__} has no multi-scale "
                              "deformable attention deformviz recognises")
    names = tuple(name for name, _, _ in layers)
    labels = getattr(model.config, "id2label", {}) or {}
    classes = tuple(str(labels.get(i, labels.get(str(i), i)))
                    for i in range(int(getattr(model.config, "num_labels", len(labels)))))
    details = {"folder": str(folder), "model type": str(config["model_type"]),
               "weights": weights[0], "classes": str(len(classes)),
               "outputs": _outputs(model)}
    return LoadedNetwork(
        module=model.to(device), preprocessing=ProcessorPreparation(processor),
        format="transformers", architecture=f"{type(model).__name__} ({config['model_type']})",
        deformable_layers=names, default_chain=default_attention_layer(names),
        source=str(folder), details=details,
        detection_head=PostProcessingHead(processor, classes), family="attention")


def _outputs(model: object) -> str:
    """What the model returns, for people: the output class's fields."""
    import inspect

    import typing

    annotation = inspect.signature(type(model).forward).return_annotation
    if isinstance(annotation, str):
        annotation = typing.get_type_hints(type(model).forward).get("return", annotation)
    classes = [a for a in (typing.get_args(annotation) or (annotation,))
               if hasattr(a, "__dataclass_fields__")]
    if not classes:
        return str(annotation)
    name, fields = classes[0].__name__, classes[0].__dataclass_fields__
    shown = [f for f in fields if f in ("logits", "pred_boxes", "init_reference_points",
                                         "intermediate_reference_points",
                                         "encoder_last_hidden_state", "enc_outputs_class")]
    return f"{name}: {', '.join(shown)}" if shown else name
