"""`deformviz models`: the registered models, one line of their card each."""

from __future__ import annotations

SUMMARY = "List the registered models."
EPILOG = """\b
Examples:
  deformviz models
  deformviz sample photo.jpg --model NAME
"""

COLUMNS = ("NAME", "WEIGHTS", "SUMMARY")


def command() -> None:
    """List the bundled models in three columns: NAME (* marks the default), WEIGHTS (present
    or missing) and SUMMARY (a line of the model card)."""
    from deformviz.models.registry import DEFAULT_MODEL, MODELS

    if not MODELS:
        print("no models registered yet; use --model PATH with an exported weights file")
        return
    width = max(len(name) for name in (*MODELS, COLUMNS[0]))
    print(f"  {COLUMNS[0]:<{width}}  {COLUMNS[1]:<8} {COLUMNS[2]}")
    for name in sorted(MODELS):
        entry = MODELS[name]
        mark = "*" if name == DEFAULT_MODEL else " "
        state = "present" if entry.path.is_file() else "missing"
        print(f"{mark} {name:<{width}}  {state:<8} {entry.summary}")
    print("* the default model")
