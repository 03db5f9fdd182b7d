"""`deformviz models`: the registered models, one line of their card each."""

from __future__ import annotations

SUMMARY = "List the registered models."
EPILOG = """\b
Examples:
  deformviz models
  deformviz sample photo.jpg --model NAME
"""


def command() -> None:
    """List the bundled models (name, weights present or not, summary); * marks the default."""
    from deformviz.models.registry import DEFAULT_MODEL, MODELS

    if not MODELS:
        print("no models registered yet; use --model PATH with an exported weights file")
        return
    width = max(len(name) for name in MODELS)
    for name in sorted(MODELS):
        entry = MODELS[name]
        mark = "*" if name == DEFAULT_MODEL else " "
        state = "" if entry.path.is_file() else " [weights missing]"
        print(f"{mark} {name:<{width}}  {entry.summary}{state}")
