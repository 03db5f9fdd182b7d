"""Letting callers see the offsets a deformable module used, without running anything twice."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

from torch.utils.hooks import RemovableHandle


class OffsetHooks:
    """Mixin for modules that predict offsets: `register_offset_hook(fn)` makes every forward
    pass call `fn(module, **offsets)` with exactly the tensors the operator received."""

    def _init_offset_hooks(self) -> None:
        self._offset_hooks: OrderedDict[int, Callable[..., None]] = OrderedDict()

    def register_offset_hook(self, hook: Callable[..., None]) -> RemovableHandle:
        """Calls `hook(module, **offsets)` on every forward pass; see the module's docstring
        for the keyword arguments. Returns a handle whose `remove()` unregisters it."""
        handle = RemovableHandle(self._offset_hooks)
        self._offset_hooks[handle.id] = hook
        return handle

    def _report_offsets(self, **offsets: Any) -> None:
        for hook in self._offset_hooks.values():
            hook(self, **offsets)
