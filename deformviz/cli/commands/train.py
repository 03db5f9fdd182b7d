"""`deformviz train`: reproduce the bundled network (or its plain twin) from a seed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..options import Device, DeviceOpt, multiple_of_16

SUMMARY = "Train the bundled network from a seed (checkpoints, resume)."
EPILOG = """\b
Examples:
  deformviz train runs/deformable --export deformviz/models/weights/lite0-deform-synth.pt
  deformviz train runs/plain --plain --export deformviz/models/weights/lite0-plain-synth.pt
  deformviz train runs/quick --epochs 1 --scenes 256        # a smoke run
Interrupted? Run the same command again: it resumes from the last finished epoch.
"""


def command(
    run_dir: Annotated[Path, typer.Argument(help="Folder for checkpoint.pt and log.jsonl.")],
    plain: Annotated[bool, typer.Option("--plain", help="The twin: offsets frozen at zero, plain RoI pooling.")] = False,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training scenes.")] = 8,
    scenes: Annotated[int, typer.Option(min=8, help="Generated training scenes (trunk features cached once).")] = 6000,
    seed: Annotated[int, typer.Option(min=0, help="Scene generator and initialisation seed.")] = 0,
    image_size: Annotated[int, typer.Option(
        min=64, callback=multiple_of_16, help="Side of the square training scenes, pixels.")] = 384,
    offset_lr_scale: Annotated[float, typer.Option(min=0.0, help="Learning rate of the offset convs relative to the rest.")] = 1.0,
    export: Annotated[Optional[Path], typer.Option(help="Write the trained weights (float16) here and print their sha256.")] = None,
    device: DeviceOpt = Device.auto,
) -> None:
    """Train the deformable stage, dense heads and RoI head on generated scenes, over the frozen
    ImageNet trunk. Deterministic from the seed on the same machine and thread count."""
    from deformviz.models.registry import export_weights
    from deformviz.training.trainer import TrainConfig, train

    from deformviz.output_paths import refuse_overwriting, writable_path

    from ..runtime import resolve_device

    if export is not None:  # the run's own files (checkpoint, log, feature cache) are inputs
        kept = sorted(p for p in run_dir.rglob("*") if p.is_file()) if run_dir.is_dir() else []
        refuse_overwriting([("--export", export)], kept)
    config = TrainConfig(seed=seed, train_scenes=scenes, epochs=epochs, deformable=not plain,
                         image_size=image_size, offset_lr_scale=offset_lr_scale)
    model = train(config, run_dir, device=resolve_device(device.value))
    if export is not None:
        digest = export_weights(model.cpu(), writable_path(export))
        print(f"{export}  sha256 {digest}")
