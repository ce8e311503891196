"""The student edition of the exercises: ``python -m gengen_lib student OUT_DIR``.

Writes ``OUT_DIR/04_exercises.ipynb``: the course's exercises notebook without its solutions
and outputs, stubs tagged ``answer`` and checks tagged ``check`` (see
:func:`gengen_lib.exercise_notebook.student_edition`). Nothing already there is overwritten.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import exercise_notebook


def write_edition(out_dir: Path, source: Path = exercise_notebook.COURSE_NOTEBOOK) -> Path:
    """Write the student edition of ``source`` into ``out_dir`` (created if needed); returns its path."""
    if not source.is_file():
        raise FileNotFoundError(f"{source} is missing: the student edition is made from a copy of the course")
    target = out_dir / source.name
    if target.exists():
        raise FileExistsError(f"{target} already exists; choose another folder or delete it")
    out_dir.mkdir(parents=True, exist_ok=True)
    exercise_notebook.write(exercise_notebook.student_edition(exercise_notebook.read(source)), target)
    return target


def add_subcommand(subparsers) -> None:
    """Add ``student`` to the command line's subparsers."""
    parser = subparsers.add_parser("student", help="write the student edition of the exercises (no solutions)",
                                   description="Write the exercises notebook a student receives: no solutions, "
                                   "no outputs, answer cells tagged.")  # fmt: skip
    parser.add_argument("out_dir", type=Path, help="folder to write 04_exercises.ipynb into")
    parser.set_defaults(handler=run, threads=None)


def run(args: argparse.Namespace) -> dict:
    """The ``student`` command: where the edition went."""
    return {"edition": str(write_edition(args.out_dir))}
