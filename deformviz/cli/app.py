"""The `deformviz` command line: a thin layer over `deformviz.visualize` and `deformviz.plotting`.

Adding a command: write `deformviz/cli/commands/NAME.py` with a `command` function (docstring =
help), a one-line `SUMMARY` and an `EPILOG` of examples, then add NAME to `COMMANDS`. Nothing here imports torch or
matplotlib: commands import them when they run, so `deformviz --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from deformviz import __version__

from .errors import DeformvizGroup

__all__ = ["COMMANDS", "app", "main", "register"]

COMMANDS = ("sample", "roi", "explore", "inspect", "stats", "models", "info", "train", "evaluate")

app = typer.Typer(
    name="deformviz", cls=DeformvizGroup, no_args_is_help=True, add_completion=False,
    rich_markup_mode=None, pretty_exceptions_enable=False,
    help="See what a deformable convolutional network learned: sampling locations and "
         "deformed RoI bins as paper-ready figures (PNG, PDF, SVG).",
    epilog="Run 'deformviz COMMAND --help' for examples. Exit codes: 0 ok, 1 runtime failure, "
           "2 bad input. DEFORMVIZ_DEBUG=1 shows tracebacks.",
)


def _print_version(value: bool) -> None:
    if value:
        print(f"deformviz {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """See what a deformable convolutional network learned."""


def register(typer_app: typer.Typer, name: str) -> None:
    """Add the command module `deformviz.cli.commands.<name>` to `typer_app`."""
    module = importlib.import_module(f"deformviz.cli.commands.{name}")
    typer_app.command(name, short_help=getattr(module, "SUMMARY", None),
                      epilog=getattr(module, "EPILOG", None))(module.command)


for _name in COMMANDS:
    register(app, _name)


def main() -> None:
    """Console-script entry point (`deformviz`)."""
    app()
