"""Another input size for a network: `with_resize` changes the parameters of its
preprocessing's resize in the words that preprocessing has (`long_side` for the bundled
detector's `LongSideResize`, `short_side` / `max_long_side` for a checkpoint's or factory's
`Preprocessing`; `--long-side`, `--short-side`, `--max-long-side` on the command line). The
resize itself, for one image, is the preprocessing's `image_resize(size)`: one
`deformviz.image_resize.ImageResize`."""

from __future__ import annotations

import dataclasses

from deformviz.errors import InputError

from .loaded_network import LoadedNetwork
from .network import Network
from .preprocessing import LongSideResize, Preprocessing

__all__ = ["with_resize", "NetworkOptionError"]


class NetworkOptionError(InputError):
    """Arguments the network does not take: a resize its preprocessing does not have
    (`long_side` for a network resized by its shorter side, or the reverse), or checkpoint
    options (style, weights, ...) for the bundled detector.

    Attributes:
        given: the arguments given that do not apply.
        accepted: the ones that do.
    """

    def __init__(self, message: str, given: tuple[str, ...], accepted: tuple[str, ...]) -> None:
        super().__init__(message)
        self.given, self.accepted = given, accepted


def with_resize(network: Network, *, long_side: int | None = None,
                short_side: int | None = None, max_long_side: int | None = None) -> Network:
    """`network` with another input size: `long_side` for networks resized by their longer
    side (the bundled detector), `short_side` / `max_long_side` for those resized by their
    shorter one (checkpoints, factories). None keeps a value; all None: `network` itself.

    Raises:
        NetworkOptionError: an argument the network's preprocessing does not have.
    """
    given = {"long_side": long_side, "short_side": short_side, "max_long_side": max_long_side}
    given = {key: value for key, value in given.items() if value is not None}
    if not given:
        return network
    current = network.preprocessing
    if isinstance(current, LongSideResize):
        accepted: tuple[str, ...] = ("long_side",)
        changed = LongSideResize(long_side) if long_side is not None else current
    elif isinstance(current, Preprocessing):
        accepted = ("short_side", "max_long_side")
        changed = dataclasses.replace(
            current, short_side=short_side if short_side is not None else current.short_side,
            max_long_side=max_long_side if max_long_side is not None else current.max_long_side)
    else:
        accepted = ()
        changed = current
    wrong = tuple(key for key in given if key not in accepted)
    if wrong:
        raise NetworkOptionError(
            f"{', '.join(wrong)}: {network.source} is resized by "
            + (" / ".join(accepted) if accepted else "its own preprocessing"), wrong, accepted)
    if not isinstance(network, LoadedNetwork):
        raise InputError(f"cannot change the input size of a {type(network).__name__}")
    details = dict(network.details)
    if "preprocessing" in details:
        details["preprocessing"] = changed.describe()
    return dataclasses.replace(network, preprocessing=changed, details=details)
