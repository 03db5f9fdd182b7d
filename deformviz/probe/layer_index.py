"""The one index of a network's deformable layers: find a layer by any name, pick a chain, label
it for people.

Every command (sample, roi, explore, stats, inspect) and the Python API resolve layer names
here, against the layers the adapter registry (`deformviz.probe.adapters`) recognises: a
qualified module name, a network's own alias (the bundled detector's "res5a"), a unique dotted
suffix ("layer4.0.conv2" for "backbone.layer4.0.conv2") or the paper's name of a ResNet block's
3x3 ("res5a"). The default chain is the last `DEFAULT_CHAIN_LENGTH` layers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from deformviz.errors import InputError

__all__ = ["LayerIndex", "LayerNameError", "DEFAULT_CHAIN_LENGTH", "paper_name"]

#: A chain is the last this-many deformable layers by default (res5a/b/c in a ResNet-DCN).
DEFAULT_CHAIN_LENGTH = 3


class LayerNameError(InputError):
    """A layer name given by the user matches no deformable layer, or several."""


def paper_name(name: str) -> str | None:
    """The paper's name of a ResNet block's deformable 3x3, else None.

    "layer4.0.conv2" (torchvision / mmdetection) and "res5.0.conv2" (detectron2) are "res5a":
    stage, then the block as a letter (past the 26th block, "b" and its number). The deep
    stages of MSRA's ResNet-101 are named differently (res4b1 ... res4b22); the qualified name
    is always shown beside this one where it matters.

    Example:
        >>> paper_name("backbone.layer4.2.conv2"), paper_name("res4.5.conv2"), paper_name("head")
        ('res5c', 'res4f', None)
    """
    found = re.search(r"(?:^|\.)(?:layer(\d)|res(\d))\.(\d+)\.conv2$", name)
    if found is None:
        return None
    stage = int(found.group(1)) + 1 if found.group(1) else int(found.group(2))
    block = int(found.group(3))
    if block < 26:
        return f"res{stage}{chr(ord('a') + block)}"
    return f"res{stage}b{block}"


@dataclass(frozen=True)
class LayerIndex:
    """A network's deformable layers, in the order the input meets them.

    Attributes:
        names: qualified module names (`named_modules`), bottom to top.
        aliases: a network's own names -> qualified names (the bundled detector's res5a/b/c).
        default: the chain drawn when none is named (empty: the last DEFAULT_CHAIN_LENGTH).

    Example:
        >>> index = LayerIndex(("layer3.5.conv2", "layer4.0.conv2", "layer4.1.conv2",
        ...                     "layer4.2.conv2"))
        >>> index.chain(), index.find("res5a"), index.label("layer4.2.conv2")
        (('layer4.0.conv2', 'layer4.1.conv2', 'layer4.2.conv2'), 'layer4.0.conv2', 'res5c')
    """

    names: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    default: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "aliases", dict(self.aliases))
        object.__setattr__(self, "default", tuple(self.default))

    @property
    def default_chain(self) -> tuple[str, ...]:
        """The chain drawn when none is named: `default`, else the last DEFAULT_CHAIN_LENGTH."""
        return self.default or self.names[-DEFAULT_CHAIN_LENGTH:]

    def label(self, name: str) -> str:
        """A short name for people: an alias, the paper's name, else the qualified name."""
        for alias, target in self.aliases.items():
            if target == name:
                return alias
        return paper_name(name) or name

    def find(self, name: str) -> str:
        """The qualified name of layer `name` (any of the names the module docstring lists).

        Raises:
            LayerNameError: no layer or several layers match.
        """
        if name in self.names:
            return name
        if name in self.aliases and self.aliases[name] in self.names:
            return self.aliases[name]
        matches = [n for n in self.names if n.endswith("." + name) or paper_name(n) == name]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            known = ", ".join(self.label(n) if self.label(n) == n else f"{n} ({self.label(n)})"
                              for n in self.names) or "none"
            raise LayerNameError(f"no deformable layer named {name!r} (the network has: {known})")
        raise LayerNameError(f"layer name {name!r} is ambiguous: " + ", ".join(matches))

    def chain(self, names: Sequence[str] | None = None) -> tuple[str, ...]:
        """Qualified names of the layers to trace, bottom to top: `names` (in input order) or
        the default chain.

        Raises:
            LayerNameError: the network has no deformable layer, a name matches none or several,
                or a layer is named twice.
        """
        if not self.names:
            raise LayerNameError("the network ran no deformable layer")
        if not names:
            return self.default_chain
        chosen = [self.find(name) for name in names]
        if len(set(chosen)) != len(chosen):
            raise LayerNameError(f"a layer is named twice in {list(names)}")
        return tuple(sorted(chosen, key=self.names.index))

    def chain_length(self, names: Sequence[str] | None = None) -> int:
        """How many layers `chain(names)` holds, known before any image is run."""
        return len(names) if names else len(self.default_chain) or DEFAULT_CHAIN_LENGTH
