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

__all__ = ["LayerIndex", "LayerNameError", "DEFAULT_CHAIN_LENGTH", "paper_name", "call_base"]

#: A chain is the last this-many deformable layers by default (res5a/b/c in a ResNet-DCN).
DEFAULT_CHAIN_LENGTH = 3


class LayerNameError(InputError):
    """A layer name given by the user matches no deformable layer, or several."""


def paper_name(name: str) -> str | None:
    """The paper's name of a ResNet block's deformable 3x3, else None.

    "layer4.0.conv2" (torchvision / mmdetection) and "res5.0.conv2" (detectron2) are "res5a":
    stage, then the block as a letter (past the 26th block, "b" and its number). The deep
    stages of MSRA's ResNet-101 are named differently (res4b1 ... res4b22); the qualified name
    is always shown beside this one where it matters. A layer wrapped inside conv2 (such as
    "layer4.0.conv2.dcn") gets the block's name.

    Example:
        >>> paper_name("backbone.layer4.2.conv2"), paper_name("res4.5.conv2"), paper_name("head")
        ('res5c', 'res4f', None)
        >>> paper_name("layer4.0.conv2.dcn"), paper_name("res3.1.conv2.0")
        ('res5a', 'res3b')
    """
    # A deformable layer wrapped in a submodule of conv2 ("layer4.0.conv2.dcn", a common way
    # to add torchvision's DeformConv2d) is still that block's 3x3.
    found = re.search(r"(?:^|\.)(?:layer(\d)|res(\d))\.(\d+)\.conv2(?:\.\w+)*$", name)
    if found is None:
        return None
    stage = int(found.group(1)) + 1 if found.group(1) else int(found.group(2))
    block = int(found.group(3))
    if block < 26:
        return f"res{stage}{chr(ord('a') + block)}"
    return f"res{stage}b{block}"


def call_base(name: str) -> str:
    """The layer a call's record name belongs to: "head.conv#3" (its third call) -> "head.conv"."""
    return name.split("#", 1)[0]


@dataclass(frozen=True)
class LayerIndex:
    """A network's deformable layers, in the order the input meets them.

    A layer run several times in one pass (an FPN head's, once per pyramid level) has one name
    per call: its qualified name, then "#2", "#3", ...; where each call's input map has its own
    stride, the call is also named by its level, "bbox_head.cls_convs.0.conv@p4" (stride 16).

    Attributes:
        names: qualified module names (`named_modules`), bottom to top; calls after a layer's
            first as "name#k".
        aliases: a network's own names -> qualified names (the bundled detector's res5a/b/c).
        default: the chain drawn when none is named (empty: the last DEFAULT_CHAIN_LENGTH).
        levels: name -> pyramid level of its input map (p3: 8 model-input pixels per cell,
            p4: 16, ...), for the calls whose map has a power-of-two stride.

    Example:
        >>> index = LayerIndex(("layer3.5.conv2", "layer4.0.conv2", "layer4.1.conv2",
        ...                     "layer4.2.conv2"))
        >>> index.chain(), index.find("res5a"), index.label("layer4.2.conv2")
        (('layer4.0.conv2', 'layer4.1.conv2', 'layer4.2.conv2'), 'layer4.0.conv2', 'res5c')
        >>> head = LayerIndex(("head.conv", "head.conv#2"), levels={"head.conv": 3, "head.conv#2": 4})
        >>> head.find("head.conv@p4"), head.label("head.conv#2")
        ('head.conv#2', 'head.conv@p4')
    """

    names: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    default: tuple[str, ...] = ()
    levels: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "aliases", dict(self.aliases))
        object.__setattr__(self, "default", tuple(self.default))
        object.__setattr__(self, "levels", dict(self.levels))

    @property
    def default_chain(self) -> tuple[str, ...]:
        """The chain drawn when none is named: `default`, else the last DEFAULT_CHAIN_LENGTH."""
        return self.default or self.names[-DEFAULT_CHAIN_LENGTH:]

    def label(self, name: str) -> str:
        """A short name for people: an alias, the paper's name, else the qualified name; a
        layer called once per pyramid level gets its level ("cls_convs.0.conv@p4")."""
        for alias, target in self.aliases.items():
            if target == name:
                return alias
        base = call_base(name)
        if name in self.names and len(self._calls(base)) > 1:
            level = self._call_levels(base).get(name)
            if level is not None:
                return f"{paper_name(base) or base}@p{level}"
        return paper_name(name) or name

    def _calls(self, base: str) -> list[str]:
        return [n for n in self.names if call_base(n) == base]

    def _call_levels(self, base: str) -> dict[str, int]:
        """Name -> pyramid level of each call of layer `base`, when every call has a level of
        its own; else {} (the calls are then told apart by "#k" only)."""
        levels = {}
        for name in self._calls(base):
            level = self.levels.get(name)
            if level is None or level in levels.values():
                return {}
            levels[name] = level
        return levels

    def _matching_layers(self, name: str) -> list[str]:
        """Layers (calls merged) that `name` names: qualified, alias, suffix or paper name."""
        bases = list(dict.fromkeys(call_base(n) for n in self.names))
        if name in bases:
            return [name]
        if name in self.aliases and self.aliases[name] in bases:
            return [self.aliases[name]]
        return [b for b in bases if b.endswith("." + name) or paper_name(b) == name]

    def find(self, name: str) -> str:
        """The name of layer `name` (any of the names the module docstring lists); a layer
        called once per pyramid level is named with its level ("head.conv@p4") or its call
        ("head.conv#2").

        Raises:
            LayerNameError: no layer or several layers match, or a layer run several times is
                named without its level or call.
        """
        if "#" in name and name in self.names:
            return name
        base_part, at, level_part = name.partition("@")
        matches = self._matching_layers(base_part)
        if not matches:
            known = ", ".join(self.label(n) if self.label(n) == n else f"{n} ({self.label(n)})"
                              for n in self.names) or "none"
            raise LayerNameError(f"no deformable layer named {name!r} (the network has: {known})")
        if len(matches) > 1:
            raise LayerNameError(f"layer name {name!r} is ambiguous: " + ", ".join(matches))
        base = matches[0]
        calls = self._calls(base)
        levels = self._call_levels(base)
        shown = ", ".join(f"p{levels[n]}" for n in calls if n in levels)
        if at:
            wanted = level_part[1:] if level_part[:1] in ("p", "P") else ""
            if not wanted.isdigit():
                raise LayerNameError(f"{name!r}: a pyramid level is written p3, p4, ... "
                                     f"(e.g. {base}@p4)")
            for call in calls:
                if levels.get(call) == int(wanted):
                    return call
            runs = f"runs at {shown}" if shown else f"is called {len(calls)} time(s)"
            raise LayerNameError(f"{name!r}: {base} {runs}, not at p{wanted}")
        if len(calls) > 1:
            how = (f"once per pyramid level ({shown}); name one, e.g. {base}@p{levels[calls[1]]}"
                   if shown else f"{len(calls)} times; name one call, e.g. {calls[1]}")
            raise LayerNameError(f"layer {name!r} is called {how}")
        return calls[0]

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
