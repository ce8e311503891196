"""The instructor's commands, ``student`` (the edition without solutions) and ``grade`` (a folder of submissions)."""

from __future__ import annotations

from . import grading, student


def add_commands(subparsers) -> None:
    """Add ``student`` and ``grade`` to the command line; each sets ``handler`` (args -> a dict to print)."""
    student.add_subcommand(subparsers)
    grading.add_subcommand(subparsers)
