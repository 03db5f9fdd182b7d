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

__all__ = ["parse_encoder_levels", "check_family_options", "attention_page"]


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


def check_family_options(family: str, conv_only: dict[str, object],
                         attention_only: dict[str, object]) -> None:
    """A one-line InputError for options the network's family does not take (a value of None
    or False is an option not given)."""
    given = conv_only if family == "attention" else attention_only
    wrong = [flag for flag, value in given.items() if value not in (None, False)]
    if not wrong:
        return
    if family == "attention":  # in the words of `sample`
        raise InputError(f"{', '.join(wrong)}: not for a deformable-attention network (its "
                         "page takes --layer and --encoder-levels)")
    raise InputError(f"{', '.join(wrong)}: only for deformable-attention networks (a Hugging "
                     "Face model folder, or a --model-factory module with such attention)")


def attention_page(network: Network, image: LoadedImage, *, image_argument: str,
                   command_arguments: Sequence[str],
                   layers: Sequence[str], encoder_levels: tuple[int, ...] | str | None,
                   score_threshold: float, max_boxes: int, model_name: str) -> bytes:
    """The page's bytes for an attention network (`describe_attention_image`, `render_page`)."""
    from deformviz.explore.attention_build import describe_attention_image
    from deformviz.explore.page import render_page

    arguments = list(command_arguments)
    if score_threshold != 0.3:  # sample's default: its figure then draws the same boxes
        arguments += ["--score-threshold", f"{score_threshold:g}"]
    data = describe_attention_image(network, image, image_argument=image_argument,
                                    command_arguments=arguments, layers=layers,
                                    encoder_levels=encoder_levels,
                                    score_threshold=score_threshold, max_boxes=max_boxes,
                                    model_name=model_name)
    return render_page(data)
