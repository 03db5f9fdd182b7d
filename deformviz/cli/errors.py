"""The one place that turns errors into a line on stderr and an exit code.

- bad input (`deformviz.errors.InputError` and subclasses, command-line usage errors): exit 2;
- runtime failures (a model that will not load, out of memory, anything unexpected): exit 1;
- Ctrl-C: exit 130.

The message is one line, `error: ...`; `DEFORMVIZ_DEBUG=1` prints the traceback above it.
Importing this module imports neither torch nor matplotlib: error types of modules that need
them are looked up only if those modules are already loaded (if not, nothing can have raised
them).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from deformviz.errors import DeformvizError, InputError

__all__ = ["EXIT_OK", "EXIT_FAILURE", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "exit_code_for",
           "one_line", "report_error", "DeformvizGroup"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

# (module, class name, exit code): errors of modules the CLI imports lazily.
_LAZY_ERRORS = (
    ("deformviz.models.registry", "ModelLoadError", EXIT_FAILURE),
)


def exit_code_for(error: BaseException) -> int:
    """The exit code for `error` (see the module docstring)."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, (InputError, UsageError)):
        return EXIT_BAD_INPUT
    if isinstance(error, ClickException):
        return error.exit_code
    for module_name, class_name, code in _LAZY_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(error, getattr(module, class_name)):
            return code
    return EXIT_FAILURE


def one_line(error: BaseException) -> str:
    """A single-line description of `error` for the user."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, UsageError):
        message = error.format_message()
        ctx = error.ctx
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        text = message + hint
    elif isinstance(error, ClickException):
        text = error.format_message()
    elif isinstance(error, MemoryError):
        text = "out of memory (try a smaller --long-side or fewer units)"
    elif isinstance(error, DeformvizError) or exit_code_for(error) != EXIT_FAILURE or \
            type(error).__name__ == "ModelLoadError":
        text = str(error)
    else:
        text = f"unexpected {type(error).__name__}: {error}"
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " ".join(lines) if lines else type(error).__name__


def debug_enabled() -> bool:
    return os.environ.get("DEFORMVIZ_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def report_error(error: BaseException, prefix: str = "") -> int:
    """Write `error` to stderr (traceback first under DEFORMVIZ_DEBUG); return its exit code."""
    if debug_enabled() and not isinstance(error, (UsageError, KeyboardInterrupt)):
        traceback.print_exception(error, file=sys.stderr)
    sys.stderr.write(f"error: {prefix}{one_line(error)}\n")
    sys.stderr.flush()
    return exit_code_for(error)


# Options that take several numbers each time they are repeated (`--box X1 Y1 X2 Y2`). Typer
# cannot declare a repeatable multi-value option, so the tokens are joined here into one
# comma-separated value, which the command parses (with its own one-line errors).
MULTI_VALUE_OPTIONS = {"--at": 2, "--box": 4}


def _is_option(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    try:
        float(token)  # "-5" is a number, not an option
    except ValueError:
        return True
    return False


def join_multi_value_options(args: list[str]) -> list[str]:
    """["--at", "1", "2"] -> ["--at", "1,2"]; stops at "--". Joining stops early at the next
    option, so a short value ("--at 1 -o x") reaches the command's parser and its error."""
    joined: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            return joined + args[index:]
        count = MULTI_VALUE_OPTIONS.get(token)
        if count:
            values = []
            while len(values) < count and index + 1 + len(values) < len(args) and \
                    not _is_option(args[index + 1 + len(values)]):
                values.append(args[index + 1 + len(values)])
            joined += [token, ",".join(values)] if values else [token]
            index += 1 + len(values)
            continue
        joined.append(token)
        index += 1
    return joined


def _plain_argument_names(command: Any) -> None:
    """Show an argument with a metavar as just that ("IMAGE..."), in the usage line and the
    help, instead of Typer's "{IMAGE...}..." and its internal type name ("<list[Path]>")."""
    from typer.core import TyperArgument

    for param in getattr(command, "params", ()):
        if isinstance(param, TyperArgument) and param.metavar:
            name = param.metavar
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
            param._usage_display_name = lambda name=name: name  # type: ignore[method-assign]


class DeformvizGroup(TyperGroup):
    """Typer's group with deformviz's error reporting around every command.

    Runs click in non-standalone mode so every exception, usage errors included, reaches
    `report_error` (Typer would otherwise draw multi-line panels). CliRunner tests and the
    console script go through the same path.
    """

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        _plain_argument_names(command)
        return command

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        args = join_multi_value_options(sys.argv[1:] if args is None else list(args))
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except SystemExit:
            raise
        except NoArgsIsHelpError as error:  # bare `deformviz`: the help, not an error
            sys.stdout.write(error.format_message() + "\n")
            sys.exit(EXIT_OK)
        except BaseException as error:  # noqa: BLE001 - the one place errors are reported
            sys.exit(report_error(error))
        if result == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into Exit(130), silently
            sys.stderr.write("error: interrupted\n")
        sys.exit(result if isinstance(result, int) else EXIT_OK)
