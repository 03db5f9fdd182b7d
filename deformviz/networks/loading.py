"""`load_network`: a bundled name, a weights file, a model factory or a module -> a Network.

The one place that decides what a network is. A registered name ("lite0-deform-synth") is a
bundled detector; for a file, its contents decide, not its name: deformviz's own export (a
`{'config', 'state_dict'}` written by `deformviz train --export`), detectron2's key names
(`stem.conv1`, `resN`) or mmdetection's / torchvision's (`layer1.0.conv1`), in a
`{'meta', 'state_dict'}`, `{'model', ...}` or bare dict, saved by torch or pickled with numpy
arrays; "package.module:function" / "file.py:function" is a factory; a folder with a config.json is
a Hugging Face model (`transformers_folder`, through transformers). (`from_python.as_network`
wraps what a Python caller already holds; `resize.with_resize` changes the input size.)

Example:
    >>> network = load_network("faster_rcnn_r50_fpn_mdconv_c3-c5_1x_coco.pth")  # doctest: +SKIP
    >>> network.architecture                                                    # doctest: +SKIP
    'ResNet-50, pytorch style (stride on the 3x3), DCNv2 in c3-c5'
    >>> prepared = network.preprocessing.prepare(load_image("photo.jpg"))       # doctest: +SKIP
    >>> features = network.module(prepared.tensor)                              # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deformviz.errors import CheckpointError, InputError

from .bundled_files import export_config, is_bundled_name, load_bundled, load_export
from .checkpoint_file import read_checkpoint
from .detectron2 import load_detectron2, looks_like_detectron2
from .embedded_config import find_config
from .factory import is_factory_spec, load_factory
from .internimage import load_internimage, looks_like_internimage
from .loaded_network import LoadedNetwork
from .mmdetection import STYLES, load_mmdetection, looks_like_mmdetection
from .network import Network
from .preprocessing import Preprocessing
from .resize import NetworkOptionError, with_resize
from .training_state import choose_weights, training_facts
from .transformers_folder import is_transformers_folder, load_transformers_folder

__all__ = ["load_network", "LoadedNetwork"]


def _stride_choice(style: str | None, stride_in_1x1: bool | None) -> bool | None:
    """One answer to "is the stride on the 1x1?" from either way of saying it."""
    if style is not None and style not in STYLES:
        raise InputError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    from_style = None if style is None else style == "caffe"
    if from_style is not None and stride_in_1x1 is not None and from_style != stride_in_1x1:
        raise InputError(f"style {style!r} puts the stride on the "
                         f"{'1x1' if from_style else '3x3'}, contradicting stride_in_1x1="
                         f"{stride_in_1x1}")
    return from_style if from_style is not None else stride_in_1x1


def load_network(spec: str | Path, *, style: str | None = None,
                 stride_in_1x1: bool | None = None, weights: str | Path | None = None,
                 short_side: int | None = None, max_long_side: int | None = None,
                 preprocessing: Preprocessing | None = None, weights_from: str | None = None,
                 dilations: tuple[int, ...] | None = None, long_side: int | None = None,
                 device: str = "cpu", offset_scale: float | None = None) -> LoadedNetwork:
    """Load a deformable network.

    Args:
        spec: a bundled name ("lite0-deform-synth"), a weights file (deformviz's own export,
            mmdetection 2.x/3.x `.pth`, detectron2 `.pkl` / `.pth`, or a bare ResNet state
            dict), a Hugging Face model folder (config.json, weights,
            preprocessor_config.json; needs transformers), or a factory
            "package.module:function" / "file.py:function" (see `deformviz.networks.factory`).
        style: "pytorch" (stride on the 3x3 conv2) or "caffe" (on the 1x1 conv1); the weights
            do not say. Default: mmdetection's embedded config or "pytorch"; detectron2 "caffe".
        stride_in_1x1: the same choice in detectron2's words (True = "caffe").
        weights: a state dict for a factory's module (factories only).
        short_side, max_long_side: the resize (default 800, at most 1333 for checkpoints).
        preprocessing: replaces the whole preprocessing (resize, channel order, mean, std).
        weights_from: "ema" or "model" for a training checkpoint with an EMA copy (default:
            what mmdetection evaluates with, the EMA); see `training_state`.
        dilations: per stage (c2..c5) where no config in or beside the file says, e.g.
            (1, 1, 1, 2) for a dilated last stage; the weights cannot tell.
        long_side: the bundled detector's resize: pixels of the longer side (default 512).
        device: where the module goes.
        offset_scale: an InternImage checkpoint's DCNv3/v4 offset_scale, when the published
            configuration its keys match is not the one (the weights do not say).
    Returns:
        LoadedNetwork with the module in eval mode on `device`.
    Raises:
        CheckpointError (an InputError): missing file, not a checkpoint, truncated, unsafe,
            no deformable layers, unknown layout (naming a key); NetworkOptionError for a
            resize the network does not take; InputError for other bad options.
    """
    network = _load(spec, style=style, stride_in_1x1=stride_in_1x1, weights=weights,
                    short_side=short_side, max_long_side=max_long_side,
                    preprocessing=preprocessing, weights_from=weights_from, dilations=dilations,
                    long_side=long_side, device=device, offset_scale=offset_scale)
    network.module.to(device)
    return network  # type: ignore[return-value]


def _load(spec: str | Path, *, style: str | None, stride_in_1x1: bool | None,
          weights: str | Path | None, short_side: int | None, max_long_side: int | None,
          preprocessing: Preprocessing | None, weights_from: str | None,
          dilations: tuple[int, ...] | None, long_side: int | None, device: str,
          offset_scale: float | None = None) -> Network:
    text = str(spec)
    path = Path(spec)
    rebuilt = {"style": style, "stride_in_1x1": stride_in_1x1, "weights": weights,
               "preprocessing": preprocessing, "weights_from": weights_from,
               "dilations": dilations, "offset_scale": offset_scale}
    if is_bundled_name(text) and not path.exists():
        _only_for_checkpoints(text, rebuilt)
        network = load_bundled(text, device, long_side)
        return with_resize(network, short_side=short_side, max_long_side=max_long_side)
    if not path.exists() and is_factory_spec(text):
        if style is not None or stride_in_1x1 is not None or dilations is not None \
                or weights_from is not None or offset_scale is not None:
            raise InputError("style / stride_in_1x1 / dilations / weights_from describe "
                             "checkpoints deformviz rebuilds; a model factory builds its own "
                             "network")
        network = load_factory(text, weights=weights, preprocessing=preprocessing,
                               short_side=short_side, max_long_side=max_long_side)
        return with_resize(network, long_side=long_side)
    if is_transformers_folder(path):
        _only_for_checkpoints(text, {**rebuilt, "short_side": short_side,
                                     "max_long_side": max_long_side, "long_side": long_side})
        return load_transformers_folder(path, device)
    if not path.exists() and not path.suffix and "/" not in text and "\\" not in text:
        from deformviz.models.registry import MODELS

        raise CheckpointError(f"unknown network {text!r}: not a file, a model factory or a "
                              f"bundled name ({', '.join(sorted(MODELS)) or 'none'})")
    contents = read_checkpoint(path)
    exported = export_config(contents)
    if exported is not None:
        _only_for_checkpoints(text, rebuilt)
        network = load_export(path, contents, exported, device, long_side)
        return with_resize(network, short_side=short_side, max_long_side=max_long_side)
    if weights is not None:
        raise InputError(f"weights go with a model factory; {text} is a checkpoint and holds "
                         "its own")
    stride_1x1 = _stride_choice(style, stride_in_1x1)
    chosen = choose_weights(contents.state, contents.extras, text, weights_from)
    config = find_config(contents.extras, path)
    sizes = {"short_side": short_side if short_side is not None else 800,
             "max_long_side": max_long_side if max_long_side is not None else 1333}
    if offset_scale is not None and not looks_like_internimage(chosen.state):
        raise InputError(f"offset_scale describes InternImage checkpoints; {text} is not one")
    if looks_like_internimage(chosen.state):
        if style is not None or stride_in_1x1 is not None or dilations is not None:
            raise InputError("style / stride_in_1x1 / dilations describe ResNets; "
                             f"{text} holds an InternImage")
        network = load_internimage(chosen.state, source=text, structure=contents.structure,
                                   offset_scale=offset_scale, **sizes)
    elif looks_like_detectron2(chosen.state, text):
        network = load_detectron2(chosen.state, source=text, structure=contents.structure,
                                  stride_in_1x1=stride_1x1, dilations=dilations,
                                  config=config, **sizes)
    elif looks_like_mmdetection(chosen.state, text):
        network = load_mmdetection(chosen.state, source=text, structure=contents.structure,
                                   extras=contents.extras,
                                   style=None if stride_1x1 is None else
                                   ("caffe" if stride_1x1 else "pytorch"),
                                   dilations=dilations, config=config, **sizes)
    else:
        first = next(iter(contents.state))
        raise CheckpointError(
            f"{text}: unknown layout: no mmdetection or detectron2 ResNet backbone (first key "
            f"{first!r}); for other networks use a model factory")
    facts = training_facts(contents.extras, config.origin if config else None)
    facts["EMA"] = chosen.ema or "none in the file"
    facts["weights from"] = chosen.chosen
    network.details.update(facts)
    if contents.skipped:
        network.details["not read"] = ("objects besides the weights, of classes "
                                        + ", ".join(contents.skipped))
    if preprocessing is not None:
        network.details["preprocessing"] = f"{preprocessing.describe()} (given)"
        network = dataclasses.replace(network, preprocessing=preprocessing)
    return with_resize(network, long_side=long_side)


def _only_for_checkpoints(spec: str, given: dict[str, object]) -> None:
    """The bundled detector and deformviz's exports take none of these arguments."""
    wrong = tuple(name for name, value in given.items() if value is not None)
    if wrong:
        raise NetworkOptionError(f"{', '.join(wrong)}: only for networks deformviz rebuilds "
                                 f"from checkpoints or factories, not for {spec}", wrong,
                                 ("long_side", "short_side", "max_long_side"))
