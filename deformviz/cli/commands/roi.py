"""`deformviz roi`: boxes with their deformed RoI-pooling bins over images (paper Fig. 7)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..numbers import parse_numbers
from ..options import (Device, DeviceOpt, DpiOpt, FigureFormat, FormatOpt, ImagesArg,
                       LegendOpt, MaxMegapixelsOpt, ModelOpt, OutputOpt, SaveDataOpt, SizeOpt,
                       SvgTextOpt, WidthOpt, finite_in)

DEFAULT_TOP = 5  # detections drawn by default: labels stay legible at column width

SUMMARY = "Boxes and their deformed RoI bins over images (paper Fig. 7)."
EPILOG = """\b
Examples:
  deformviz roi photo.jpg --box 40 60 300 420 -o box.pdf
  deformviz roi photo.jpg --box 40 60 300 420 --box 10 10 80 90 --show-regular
  deformviz roi photo.jpg --boxes boxes.json -o bins.svg
  deformviz roi photo.jpg                          # the network's own detections
  deformviz roi photo.jpg --top 3 --min-score 0.8   # the 3 surest detections
  deformviz roi photos/ -o figures/ --top 8 -w 85mm
  deformviz roi photo.jpg --box 40 60 300 420 --no-labels -o box.svg
"""


def command(
    images: ImagesArg,
    box: Annotated[Optional[list[str]], typer.Option(
        "--box", metavar="X1 Y1 X2 Y2", show_default=False,
        help="A box in image pixels (continuous: the whole image is 0 0 W H); repeatable.")] = None,
    boxes_file: Annotated[Optional[Path], typer.Option(
        "--boxes", metavar="FILE", show_default=False,
        help='Boxes from JSON: [[x1, y1, x2, y2], ...] or {"boxes": [{"box": [...]}, ...]}.')] = None,
    show_regular: Annotated[bool, typer.Option(
        "--show-regular", help="Also draw the undeformed bins (dashed) for comparison.")] = False,
    top: Annotated[int, typer.Option(
        "--top", "--max-boxes", metavar="K", min=1, max=100,
        help="Without boxes: draw the K highest-scoring detections (the default keeps a "
             "column-width figure legible).")] = DEFAULT_TOP,
    clip: Annotated[bool, typer.Option(
        "--clip/--no-clip",
        help="Clip given boxes that cross the image border to the image (with a note on "
             "stderr), or refuse them.")] = True,
    output: OutputOpt = None,
    fmt: FormatOpt = FigureFormat.png,
    width: WidthOpt = None,
    dpi: DpiOpt = 300.0,
    save_data: SaveDataOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = Device.auto,
    size: SizeOpt = 512,
    score_threshold: Annotated[float, typer.Option(
        "--min-score", "--score-threshold", metavar="SCORE", callback=finite_in(0.0, 1.0),
        help="Without boxes: only detections scoring at least this.")] = 0.3,
    labels: Annotated[bool, typer.Option("--labels/--no-labels",
                                         help="Class and score on each box (hide them for boxes outside the network's classes).")] = True,
    legend: LegendOpt = True,
    svg_text: SvgTextOpt = True,
    max_megapixels: MaxMegapixelsOpt = 100.0,
) -> None:
    """Draw boxes (yellow, with the RoI head's class and score) and their k x k deformed bins
    (black) over the original image. Without --box/--boxes: the network's own detections (an
    image where it finds none is an error: give boxes)."""
    from deformviz.errors import BoxError, InputError
    from deformviz.plotting.size import parse_width
    from deformviz.visualize.boxes import check_boxes, clip_boxes, read_boxes_file

    from ..batch import plan_jobs, run_jobs, write_outputs
    from ..runtime import load_cli_network, resolve_device

    figure_width = parse_width(width) if width is not None else parse_width("cvpr-column")
    given: list = [parse_numbers(value, 4, "--box", BoxError) for value in box or []]
    if boxes_file is not None:
        given += read_boxes_file(boxes_file)
    # Order, area and sign now, before the model loads; each image's bounds when it is processed.
    check_boxes(given, None, clip=clip)
    read = [p for p in (boxes_file, Path(model) if model else None) if p and p.is_file()]
    jobs, batch = plan_jobs(images, output, fmt.value, "roi", save_data, read)
    torch_device = resolve_device(device.value)
    network, model_name = load_cli_network(model, torch_device, size=size)
    if network.roi_head is None:
        raise InputError(f"--model {model_name}: the network has no RoI head; 'deformviz roi' "
                         "draws the bins of a deformable RoI pooling")

    def work(job) -> list[Path]:
        from deformviz.imaging import load_image
        from deformviz.plotting.output import figure_format, render_figure
        from deformviz.plotting.rois import plot_rois
        from deformviz.visualize.export import data_format, encode_data
        from deformviz.visualize.rois import roi_bins

        image = load_image(job.image, int(max_megapixels * 1e6))
        boxes = given or None
        if given and clip:
            boxes, clipped = clip_boxes(given, image.size)
            if clipped:
                height, width = image.size
                sys.stderr.write(f"note: {job.image}: box(es) {', '.join(map(str, clipped))} "
                                 f"cross the image border; clipped to 0..{width} x "
                                 f"0..{height} (--no-clip refuses them)\n")
        result = roi_bins(network, image, boxes, score_threshold=score_threshold, max_boxes=top,
                          model_name=model_name)
        if not result.boxes:
            raise InputError(f"{job.image}: the network found no objects (score >= "
                             f"{score_threshold:g}); give boxes with --box X1 Y1 X2 Y2, or "
                             "lower --min-score")
        figure = plot_rois(result, figure_width, show_regular=show_regular, labels=labels,
                           legend=legend)
        outputs = [(job.figure, render_figure(figure, figure_format(job.figure), dpi,
                                              svg_text))]
        if job.data is not None:
            outputs.append((job.data, encode_data(result, data_format(job.data))))
        return write_outputs(outputs)

    raise typer.Exit(run_jobs(jobs, batch, work, "roi"))
