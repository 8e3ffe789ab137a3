"""The `onhand` command line: serve, migrate, seed, import, export, token, schema, worker.

Open `main.py` first: it builds the argument parser and dispatches to one module per command
family (`tokens.py`, `imports.py`)."""

from onhand.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
