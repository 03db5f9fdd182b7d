"""`deformviz sample` for deformable-attention networks (a Hugging Face model folder, or a
factory's module with multi-scale deformable attention): the chosen queries' sampling points
and attention weights, one figure per image.

Called by `commands/sample.py` when the loaded network's family is "attention"; a thin layer over
`deformviz.visualize.attention_sampling` and `deformviz.plotting.attention`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deformviz.errors import InputError

from .batch import plan_jobs, run_jobs, write_outputs

if TYPE_CHECKING:  # the command line imports torch only once it runs a network
    from deformviz.networks.network import Network

__all__ = ["AttentionChoice", "sample_attention"]


@dataclass(frozen=True)
class AttentionChoice:
    """What the command line chose: queries (auto, by index, at pixels), layer, display.

    Attributes:
        auto: decoder queries of the N best detections, or None.
        queries: query indices.
        at: original pixels (x, y) for encoder queries.
        level: 1-based pyramid level for `at`.
        layer: the attention layer's name, or None (the last decoder layer).
        through_layers: follow the (single) query through its stage's layers.
        split: "none", "head" or "level".
        min_weight: display threshold.
    """

    auto: int | None
    queries: tuple[int, ...]
    at: tuple[tuple[float, float], ...]
    level: int
    layer: str | None
    through_layers: bool
    split: str
    min_weight: float

    def check(self) -> None:
        """One-line errors for choices that cannot go together, before anything runs."""
        from deformviz.plotting.attention import SPLITS

        if self.split not in SPLITS:
            raise InputError(f"--split {self.split!r}: expected one of {', '.join(SPLITS)}")
        if not 0.0 <= self.min_weight < 1.0:
            raise InputError(f"--min-weight {self.min_weight:g}: expected a weight in [0, 1)")
        if self.level < 1:
            raise InputError(f"--level {self.level}: levels are counted from 1 (finest)")
        count = len(self.queries) + len(self.at) + (self.auto or 0)
        if self.through_layers and count != 1:
            raise InputError("--through-layers follows one query: give exactly one of "
                             "--query K, --at X Y or --auto 1")


def sample_attention(images: list[Path], network: Network, choice: AttentionChoice, *,
                     output: Path | None, fmt: str, model_files: list[Path],
                     width: float | None, dpi: float,
                     save_data: Path | None, score_threshold: float,
                     titles: bool, legend: bool, svg_text: bool, max_pixels: int) -> int:
    """Draw the chosen queries of every image with `network` (family "attention"); returns
    the exit code of the batch. `model_files`: the weights read, never overwritten."""
    choice.check()
    if save_data is not None and save_data.suffix.lower() not in ("", ".json"):
        raise InputError(f"--save-data {save_data}: attention data is written as .json")
    jobs, batch = plan_jobs(images, output, fmt, "attention", save_data, model_files)

    def work(job) -> list[Path]:
        import json

        from deformviz.imaging import load_image
        from deformviz.plotting.attention import plot_attention
        from deformviz.plotting.output import figure_format, render_figure
        from deformviz.plotting.size import parse_width
        from deformviz.visualize.attention_export import attention_to_dict
        from deformviz.visualize.attention_sampling import (attention_units,
                                                            probe_attention_image,
                                                            through_layers)

        image = load_image(job.image, max_pixels)
        probed = probe_attention_image(network, image, score_threshold=score_threshold,
                                       model_name=network.source)
        result = attention_units(probed, layer=choice.layer, auto=choice.auto,
                                 queries=choice.queries, at=choice.at, level=choice.level - 1)
        if choice.through_layers:
            result = through_layers(probed, result.units[0].query, layer=result.units[0].layer)
        panels = len(result.units) * (1 if choice.split == "none" else
                                      (result.units[0].heads if choice.split == "head"
                                       else result.units[0].levels))
        figure_width = width or (parse_width("cvpr-text") if panels > 1
                                 else parse_width("cvpr-column"))
        figure = plot_attention(result, figure_width, split=choice.split,
                                threshold=choice.min_weight, titles=titles, legend=legend)
        outputs = [(job.figure, render_figure(figure, figure_format(job.figure), dpi, svg_text))]
        if job.data is not None:
            outputs.append((job.data, json.dumps(attention_to_dict(result), indent=1).encode()))
        return write_outputs(outputs)

    return run_jobs(jobs, batch, work, "sample")
