"""The ``toktool`` command line: a thin Typer layer over the public Python API."""

from toktool.cli.app import app, main

__all__ = ["app", "main"]
