"""One module per command. Each defines `command` (the Typer function; its docstring is the
help, with examples) and is listed in `deformviz.cli.app.COMMANDS`."""
