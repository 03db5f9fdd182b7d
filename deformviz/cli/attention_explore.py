"""`deformviz explore` for deformable-attention networks (network.family == "attention"): the
options only they take, and the page. Called by `commands/explore.py` once the network is
loaded; a thin layer over `deformviz.explore.describe_attention_image`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from deformviz.errors import InputError

if TYPE_CHECKING:  # the command line imports torch only once it runs a network
    from deformviz.imaging import LoadedImage
    from deformviz.networks.network import Network

__all__ = ["parse_encoder_levels", "attention_page"]


def parse_encoder_levels(value: str | None) -> tuple[int, ...] | str | None:
    """"2,3" -> (1, 2) (0 = finest); "all" -> "all"; None -> None (the default choice).
    InputError (one line) for anything else."""
    if value is None:
        return None
    text = value.strip().lower()
    if text == "all":
        return "all"
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise InputError(f"--encoder-levels {value!r}: expected level numbers from 1 (finest), "
                         "e.g. 2,3,4, or 'all'")
    return tuple(sorted({int(p) - 1 for p in parts}))


def attention_page(network: Network, image: LoadedImage, *, image_argument: str,
                   command_arguments: Sequence[str],
                   layers: Sequence[str], encoder_levels: tuple[int, ...] | str | None,
                   score_threshold: float, max_boxes: int, model_name: str) -> bytes:
    """The page's bytes for an attention network (`describe_attention_image`, `render_page`)."""
    from deformviz.explore.attention_build import describe_attention_image
    from deformviz.explore.page import render_page

    from .options import DEFAULT_SCORE

    arguments = list(command_arguments)
    if score_threshold != DEFAULT_SCORE:  # else sample's default: its figure draws the same boxes
        arguments += ["--score-threshold", f"{score_threshold:g}"]
    data = describe_attention_image(network, image, image_argument=image_argument,
                                    command_arguments=arguments, layers=layers,
                                    encoder_levels=encoder_levels,
                                    score_threshold=score_threshold, max_boxes=max_boxes,
                                    model_name=model_name)
    return render_page(data)
