"""Grade a folder of submitted exercise notebooks: ``python -m gengen_lib grade SUBMISSIONS --out grades.csv``.

Each submission's code cells (not its check cells, not its stored outputs) run in a process of
their own (:mod:`gengen_lib.grading_sandbox`); the checkers run here, in the grader's process,
and call the student's functions through proxies, so the grade comes from the values those
functions return on the checkers' inputs. Printed text, stored outputs, patched checkers and
edited library files in the student's process cannot change it.

The result: a CSV with one row per submission (the file name, the points of each exercise,
``total``, ``note``) and one HTML feedback page per submission (:mod:`gengen_lib.grading_feedback`).
Exercises and points come from :func:`gengen_lib.exercises.catalogue`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import inspect
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from . import exercise_notebook, exercises
from .exercises import GradedExercise
from .grading_feedback import feedback_page
from .grading_report import Outcome, Report
from .grading_sandbox import Limits, Submission
from .options import parse_number

MAX_BYTES = 20 << 20  # a submitted notebook larger than this is refused
RESULT_TIME_FACTOR = 5  # a multi-step result (it trains a small VAE) gets this many times the exercise limit


# ---------------------------------------------------------------------------------------
# Reading submissions
# ---------------------------------------------------------------------------------------


def read_submissions(folder: Path) -> list[tuple[str, bytes | None, str | None]]:
    """(file name, its bytes or None, why it is refused or None) for every visible entry of ``folder``.

    Everything is read before any submission runs, so none can change another's file.
    """
    entries = []
    root = folder.resolve()
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            continue
        problem, data = None, None
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            problem = "a symbolic link to a file outside the submissions folder"
        elif path.is_dir():
            problem = "a folder, not a notebook"
        elif not path.is_file():
            problem = "not a regular file"
        elif path.stat().st_size > MAX_BYTES:
            problem = f"larger than {MAX_BYTES >> 20} MB"
        else:
            data = path.read_bytes()
        entries.append((path.name, data, problem))
    return entries


def code_cells(data: bytes, registry: list[GradedExercise]) -> tuple[dict[int, str] | None, str | None]:
    """The code cells to run by their number in the notebook (from 1; check cells left out, magics commented
    out), or why the file cannot be graded."""
    if not data.strip():
        return None, "an empty file"
    try:
        notebook = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, "not a notebook (not JSON)"
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list) or notebook.get("nbformat") != 4:
        return None, "not a notebook (no nbformat-4 cells)"
    cells = {i + 1: _without_magics(exercise_notebook.source(c)) for i, c in enumerate(notebook["cells"])
             if isinstance(c, dict) and c.get("cell_type") == "code" and not exercise_notebook.is_check_cell(c)}
    defined = {name for code in cells.values() for name in exercise_notebook.defined_functions(code)}
    if not defined & {e.name for e in registry}:
        return None, "not this course's exercises notebook (it defines none of the exercise functions)"
    return cells, None


def _without_magics(code: str) -> str:
    """IPython's %magics and !shell lines become comments (the student's process has no IPython)."""
    return re.sub(r"^(\s*)([%!])", r"\1# \2", code, flags=re.MULTILINE)


# ---------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------


def grade_cells(cells: dict[int, str], registry: list[GradedExercise], limits: Limits, quick: bool) -> Report:
    """Run one submission's cells (by their number) in a fresh process and grade every exercise; a stop
    costs one exercise."""
    report, numbers = Report(""), list(cells)
    submission = Submission(list(cells.values()), limits)
    try:
        _start(submission)
        for exercise in registry:
            failed_step = next((o for o in report.outcomes if not o.passed and o.exercise.name in exercise.functions
                                and exercise.is_result), None)  # fmt: skip
            if failed_step is not None:  # the checker would stop at that step too: do not run it again
                detail = f"first make step {failed_step.exercise.name} pass: {failed_step.detail}"
                report.outcomes.append(Outcome(exercise, False, detail))
                continue
            if submission.stop_reason is not None:
                _start(submission)
            report.outcomes.append(_grade_one(submission, exercise, limits, quick))
        report.notes += [f"cell {numbers[i]} was not run: it {why}" for i, why in sorted(submission.skipped.items())]
        report.notes += [f"cell {numbers[i]} raised {why}" for i, why in sorted(submission.errors.items())]
    finally:
        submission.kill()
    return report


def _start(submission: Submission) -> None:
    try:
        submission.start()
    except RuntimeError as error:
        raise GradingError(f"{error}; check that `python -m gengen_lib.grading_worker` runs here") from None


def _grade_one(submission: Submission, exercise: GradedExercise, limits: Limits, quick: bool) -> Outcome:
    missing = [f for f in exercise.functions if f not in submission.names]
    if missing:
        return Outcome(exercise, False, f"{', '.join(missing)} is not defined in the submission")
    seconds = limits.seconds * (RESULT_TIME_FACTOR if exercise.is_result else 1)
    submission.allow(seconds)
    kwargs = {"quick": quick} if "quick" in inspect.signature(exercise.checker).parameters else {}
    verdict = exercise.checker(*[submission.function(f) for f in exercise.functions], **kwargs)
    if submission.stop_reason is not None:
        return Outcome(exercise, False, submission.stop_reason)
    return Outcome(exercise, bool(verdict.passed), verdict.detail or verdict.message)


def library_fingerprint() -> dict[str, str]:
    """sha256 of every file of the installed gengen_lib: a submission that edits one is caught."""
    root = Path(__file__).resolve().parent
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.py"))}


class GradingError(ValueError):
    """The grading cannot go on (one line, with its fix)."""


def grade_folder(folder: Path, out: Path, feedback: Path, limits: Limits, quick: bool = False,
                 progress: bool = True) -> list[Report]:  # fmt: skip
    """Grade every submission in ``folder``: write the CSV ``out`` and one feedback page each under ``feedback``."""
    for target in (out, feedback):
        if target.exists() or target.is_symlink():
            raise GradingError(f"{target} already exists; choose another --out (or --feedback) or delete it")
    registry = exercises.catalogue()
    hints = exercise_notebook.hints(exercise_notebook.read())
    fingerprint = library_fingerprint()
    entries = read_submissions(folder)
    reports = []
    for name, data, problem in tqdm(entries, desc="grading", unit="submission", file=sys.stderr,
                                    disable=not progress):  # fmt: skip
        start = time.monotonic()
        cells = None
        if problem is None:
            cells, problem = code_cells(data, registry)
        if problem is not None:
            report = Report(name, [Outcome(e, False, "not graded: " + problem) for e in registry], [problem],
                            refused=problem)
        else:
            report = grade_cells(cells, registry, limits, quick)
            report.file = name
        report.seconds = time.monotonic() - start
        reports.append(report)
        if library_fingerprint() != fingerprint:
            raise GradingError(f"grading {name} changed files of gengen_lib: restore them (git checkout gengen_lib) "
                               f"and grade as a user who cannot write them")  # fmt: skip
    _write_outputs(reports, registry, hints, out, feedback)
    refused = sum(r.refused is not None for r in reports)
    possible = sum(e.points for e in registry)
    seconds = sum(r.seconds for r in reports)
    mean = sum(r.total for r in reports) / len(reports) if reports else 0.0
    print(f"graded {len(reports)} submissions ({refused} not gradable) in {seconds:.0f} s "
          f"({seconds / max(len(reports), 1):.1f} s each); mean total {mean:.1f} of {possible}; "
          f"grades: {out}; feedback: {feedback}/", file=sys.stderr)  # fmt: skip
    return reports


def _write_outputs(reports: list[Report], registry: list[GradedExercise], hints: dict[str, str], out: Path,
                   feedback: Path) -> None:  # fmt: skip
    """The CSV and the feedback folder, each written under a temporary name and renamed into place,
    replacing whatever a submission may have planted there while it ran."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file", *[e.name for e in registry], "total", "note"])
    for r in reports:
        points = {o.exercise.name: o.points for o in r.outcomes}
        writer.writerow([r.file, *[points.get(e.name, 0) for e in registry], r.total, "; ".join(r.notes)[:500]])
    out.parent.mkdir(parents=True, exist_ok=True)
    feedback.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".grading-", dir=feedback.parent))
    try:
        pages, used = staging / "pages", set()
        pages.mkdir()
        for r in reports:
            page = _page_name(r.file, used)
            (pages / page).write_text(feedback_page(r, hints, sum(e.points for e in registry)), encoding="utf-8")
        (staging / "grades.csv").write_text(text.getvalue(), encoding="utf-8")
        for target in (out, feedback):
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.is_dir():
                shutil.rmtree(target)
        os.replace(staging / "grades.csv", out)
        os.replace(pages, feedback)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _page_name(file: str, used: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(file).stem).strip("._") or "submission"
    name, i = f"{stem}.html", 1
    while name in used:
        i += 1
        name = f"{stem}-{i}.html"
    used.add(name)
    return name


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def _positive_seconds(text: str) -> float:
    """``--timeout``: seconds, more than 0 and at most a day."""
    return parse_number(text, float, "a number of seconds", lambda v: 0 < v <= 86400,
                        "must be between 0 and 86400 seconds, got {value:g}")  # fmt: skip


def _memory(text: str) -> int:
    """``--memory``: GiB, from 0.1 to 1024, as bytes."""
    gib = parse_number(text, float, "a number of GiB", lambda v: 0.1 <= v <= 1024,
                       "must be between 0.1 and 1024 GiB, got {value:g}")  # fmt: skip
    return int(gib * (1 << 30))


def add_subcommand(subparsers) -> None:
    """Add ``grade`` to the command line's subparsers."""
    parser = subparsers.add_parser(
        "grade", help="grade a folder of submitted exercise notebooks",
        description="Run each submitted exercises notebook in its own process and grade its functions with the "
        "checkers; writes a CSV and one HTML feedback page each.",
    )  # fmt: skip
    parser.add_argument("submissions", type=Path, help="folder of submitted .ipynb files (any file names)")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV to write (default grades.csv)")
    parser.add_argument("--feedback", type=Path, help="folder for the feedback pages (default: beside --out, "
                        "named after it with _feedback)")  # fmt: skip
    parser.add_argument("--timeout", type=_positive_seconds, default=60.0,
                        help="seconds per exercise and per cell (a multi-step result gets 5 times this; default 60)")
    parser.add_argument("--memory", type=_memory, default=2 << 30,
                        help="GiB a submission may allocate beyond the libraries (default 2)")
    parser.add_argument("--quick", action="store_true", help="the exercises' quick mode (a shorter VAE training)")
    parser.set_defaults(handler=run, threads=None)


def run(args: argparse.Namespace) -> dict:
    """The ``grade`` command: a summary for the command line to print (errors raise GradingError)."""
    if not args.submissions.is_dir():
        raise GradingError(f"{args.submissions} is not a folder; give the folder that holds the submitted notebooks")
    feedback = args.feedback or args.out.with_name(args.out.stem + "_feedback")
    reports = grade_folder(args.submissions, args.out, feedback, Limits(seconds=args.timeout, memory=args.memory),
                           quick=args.quick)  # fmt: skip
    return {"submissions": len(reports), "not_gradable": sum(r.refused is not None for r in reports),
            "totals": {r.file: r.total for r in reports},
            "seconds": {r.file: round(r.seconds, 1) for r in reports}, "grades": str(args.out),
            "feedback": str(feedback)}  # fmt: skip
