"""`deformviz evaluate`: the bundled network against its plain twin on held-out scenes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..options import Device, DeviceOpt, ModelOpt, multiple_of_16

SUMMARY = "Measure the network and its plain twin on held-out generated scenes."
EPILOG = """\b
Examples:
  deformviz evaluate
  deformviz evaluate --scenes 50 --json eval.json
  deformviz evaluate --model runs/a.pt --twin runs/b.pt
"""


def command(
    model: ModelOpt = None,
    twin: Annotated[str, typer.Option(metavar="NAME|PATH", help="The plain twin to compare with.")] = "lite0-plain-synth",
    scenes: Annotated[int, typer.Option(min=1, help="Held-out scenes.")] = 300,
    seed: Annotated[int, typer.Option(min=1, help="Held-out seed (training uses 0).")] = 1,
    image_size: Annotated[Optional[int], typer.Option(
        min=32, callback=multiple_of_16, help="Side of the held-out scenes, pixels [default: the size the model was trained at].")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the report as JSON.")] = None,
    device: DeviceOpt = Device.auto,
) -> None:
    """Print detection AP of both networks, the paper's Table 2 (effective dilation of each
    deformable layer by the size of the object a unit sits on) and the RoI head's accuracy and
    bin placement."""
    from rich.console import Console
    from rich.progress import Progress

    from deformviz.evaluation import EvaluationConfig, evaluate

    from deformviz.atomic_files import check_can_create
    from deformviz.output_paths import refuse_overwriting, writable_path

    from ..batch import write_outputs
    from ..runtime import load_cli_model, resolve_device

    if json_path is not None:  # before a minute of work: never over a network file
        refuse_overwriting([("--json", json_path)], [Path(p) for p in (model, twin) if p])
        check_can_create(writable_path(json_path).parent)
    chosen = resolve_device(device.value)
    network, name = load_cli_model(model, chosen)
    plain, twin_name = load_cli_model(twin, chosen)
    config = EvaluationConfig(scenes=scenes, seed=seed, image_size=image_size)
    # About a minute for the default 300 scenes on 2 CPU cores: show where it is (on stderr).
    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("evaluating held-out scenes", total=scenes)
        report = evaluate(network.module, plain.module, config,
                          progress=lambda done, total: progress.update(task, completed=done))
    report["models"] = {"deformable": name, "plain": twin_name}
    console = Console()
    for table in render(report):
        console.print(table)
    if json_path is not None:
        write_outputs([(json_path, json.dumps(report, indent=2, sort_keys=True).encode())])
        print(json_path)


def render(report: dict) -> list:
    """The report as rich tables: detection, Table 2, RoI."""
    from rich.table import Table

    detection = Table(title="Detection on held-out scenes (AP at IoU 0.5)")
    detection.add_column("class")
    for name in report["detection"]:
        detection.add_column(name, justify="right")
    classes = list(report["detection"]["deformable"]["AP50_per_class"])
    for cls in classes:
        detection.add_row(cls, *(f"{v['AP50_per_class'][cls]:.3f}" for v in report["detection"].values()))
    detection.add_row("mean", *(f"{v['mAP50']:.3f}" for v in report["detection"].values()))

    dilation = report["effective_dilation"]
    thresholds = dilation["thresholds_px2"]
    table2 = Table(title="Effective dilation (feature cells; rigid = 2.0), mean ± std "
                         f"(small < {thresholds['small_below'] ** 0.5:.0f}², "
                         f"large > {thresholds['large_above'] ** 0.5:.0f}² px)")
    table2.add_column("layer")
    categories = ("small", "medium", "large", "background")
    for category in categories:
        table2.add_column(category, justify="right")
    table2.add_column("large/small", justify="right")
    for layer in ("res5c", "res5b", "res5a"):
        row = dilation[layer]
        cells = [f"{row[c]['mean']:.2f} ± {row[c]['std']:.2f}" for c in categories]
        table2.add_row(layer, *cells, f"{row['large']['mean'] / row['small']['mean']:.2f}")

    roi = Table(title=f"RoI head on {report['roi']['boxes']} jittered ground-truth boxes")
    roi.add_column("measure")
    roi.add_column("value", justify="right")
    roi.add_row("accuracy, deformable pooling", f"{report['roi']['deformable_accuracy']:.3f}")
    roi.add_row("accuracy, plain pooling (twin)", f"{report['roi']['plain_accuracy']:.3f}")
    roi.add_row("bin centres in object mask, regular bins", f"{report['roi']['bin_centres_in_mask_regular']:.3f}")
    roi.add_row("bin centres in object mask, deformed bins", f"{report['roi']['bin_centres_in_mask_deformed']:.3f}")
    return [detection, table2, roi]

