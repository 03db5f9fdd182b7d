"""The application: help, version, models, info, registration, startup without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from deformviz import __version__
from deformviz.cli import app
from deformviz.cli.app import COMMANDS, register

runner = CliRunner()


def test_help_does_not_import_torch_or_matplotlib() -> None:
    code = ("import sys\n"
            "from deformviz.cli import app\n"
            "from typer.testing import CliRunner\n"
            "for args in ([], ['--help'], ['sample', '--help'], ['roi', '--help'], ['--version']):\n"
            "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib'))\n"
            "print(heavy[:5])\n")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert output.returncode == 0, output.stderr
    assert output.stdout.strip() == "[]"


def test_console_script_entry_point() -> None:
    output = subprocess.run([sys.executable, "-m", "deformviz", "--version"], capture_output=True,
                            text=True, timeout=60)
    assert output.returncode == 0 and output.stdout.strip() == f"deformviz {__version__}"


def test_version_and_help() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"deformviz {__version__}"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_examples(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.stdout and f"deformviz {name}" in result.stdout


def test_models_with_none_registered(monkeypatch) -> None:
    from deformviz.models import registry

    monkeypatch.setattr(registry, "MODELS", {})
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "no models registered" in result.stdout


def test_models_lists_cards(monkeypatch) -> None:
    from deformviz.models import registry

    entry = registry.ModelEntry(registry.DEFAULT_MODEL, "nope.pt", "0" * 64,
                                "Lite0 trunk + 3 deformable layers, synthetic scenes")
    monkeypatch.setattr(registry, "MODELS", {entry.name: entry})
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if line.startswith("* "))
    assert row.split(None, 3)[1:3] == [entry.name, "missing"]
    assert row.endswith("synthetic scenes")


def test_info_prints_backend_and_device() -> None:
    result = runner.invoke(app, ["info", "--device", "cpu"])
    assert result.exit_code == 0
    from deformviz.ops import operator_backend

    backend = operator_backend("cpu")
    assert backend.startswith(("compiled-cpu", "reference"))
    assert f"operators:  {backend}" in result.stdout.splitlines()
    assert "device:     cpu" in result.stdout and f"deformviz:  {__version__}" in result.stdout


def test_adding_a_command_is_one_registration(monkeypatch) -> None:
    import types

    module = types.ModuleType("deformviz.cli.commands.hello")

    def command(name: str = "world") -> None:
        """Say hello."""
        print(f"hello {name}")

    module.command, module.EPILOG = command, "Examples:\n  deformviz hello"
    monkeypatch.setitem(sys.modules, "deformviz.cli.commands.hello", module)
    extra = typer.Typer(cls=type(typer.main.get_group(app)))
    extra.callback()(lambda: None)
    register(extra, "hello")
    result = runner.invoke(extra, ["hello", "--name", "lead"])
    assert result.exit_code == 0 and result.stdout == "hello lead\n"
