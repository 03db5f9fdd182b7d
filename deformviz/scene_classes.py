"""The object classes of deformviz's generated scenes, which the bundled networks detect.

A name list on its own, so that the scene generator (which draws them) and the models (which
store them in their configuration) share it without importing each other.
"""

from __future__ import annotations

__all__ = ["CLASS_NAMES"]

#: Names of the object classes; a scene's ``classes`` index into this tuple.
CLASS_NAMES: tuple[str, ...] = (
    "ellipse",
    "triangle",
    "rectangle",
    "star",
    "cross",
    "letter",
    "digit",
)
