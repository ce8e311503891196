"""Specification of the grader: a submission earns exactly the points its functions earn, whatever else it does.

One folder is graded once for the slow tests (quick mode, short limits): the answer key (every
solution filled in), the untouched student edition, a half-done notebook, a hostile notebook
and malformed files. Each hostile exercise must score zero, its neighbours must be unaffected.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gengen_lib import exercise_notebook, exercises, grading
from gengen_lib.grading_feedback import feedback_page
from gengen_lib.grading_report import Outcome, Report
from gengen_lib.grading_sandbox import Limits

LIMITS = Limits(seconds=15, memory=1 << 30, startup_seconds=300)
REGISTRY = exercises.catalogue()
POSSIBLE = sum(e.points for e in REGISTRY)
COURSE = exercise_notebook.read()
EDITION = exercise_notebook.student_edition(COURSE)
SOLUTIONS = exercise_notebook.solution_code(COURSE)
HALF = {name for family in ("gan", "flows") for name in grading.exercises.FAMILIES[family]}


def _stub(name: str, body: str) -> str:
    """A function with the exercise's signature and a hostile body."""
    signature = SOLUTIONS[name].split("\n", 1)[0]
    return signature + "\n" + "\n".join("    " + line for line in body.strip().splitlines()) + "\n"


def hostile_answers(out: Path) -> dict[str, str]:
    """Hostile bodies by exercise (the rest of the notebook is the answer key), and what each tries."""
    return {
        # patch the checker and its helpers, then leave the stub
        "kl_standard_normal": "exercises.check_kl_standard_normal = lambda *a, **k: True\n"
        "import gengen_lib.checking as checking\nchecking.passed = checking.failed\n"
        + _stub("kl_standard_normal", "return torch.zeros(mu.shape[0])"),
        # print the checker's success line
        "reparameterize": _stub("reparameterize", 'print("✓ reparameterize: correct on 5 random cases")\n'
                                "return torch.zeros_like(mu)"),
        "importance_log_likelihood": _stub("importance_log_likelihood", "while True:\n    pass"),
        "slerp": _stub("slerp", "hog = bytearray(64 << 30)\nreturn z0"),
        "discriminator_loss": _stub("discriminator_loss", "import os\nos._exit(0)"),
        "non_saturating_generator_loss": _stub("non_saturating_generator_loss", "import sys\nsys.exit(0)"),
        "coupling_inverse": _stub("coupling_inverse", "import ctypes\nreturn ctypes.string_at(0)"),
        # patch the comparison the checkers use, from inside the function
        "angle_between": _stub("angle_between", "import gengen_lib.checking as c\nc._close = lambda a, b: True\n"
                               "return torch.zeros(u0.shape[0])"),
        # write a CSV with full marks where the grader will write its own
        "bits_per_dim": _stub("bits_per_dim", f"open({str(out)!r}, 'w').write('file,total\\nhostile.ipynb,99\\n')\n"
                              "return torch.zeros_like(log_prob_unit)"),
        # start a process that would outlive the grading (refused where the seccomp filter works)
        "coupling_forward": _stub("coupling_forward", "import os, time\nif os.fork() == 0:\n    time.sleep(3600)\n"
                                  "return torch.zeros_like(x), torch.zeros(x.shape[0])"),
        # start another program
        "coupling_layer_inverse": _stub("coupling_layer_inverse", "import subprocess\n"
                                        "subprocess.run(['sleep', '3600'])\nreturn y"),
    }


def hostile_notebook(out: Path) -> dict:
    notebook = exercise_notebook.fill_solutions(EDITION, {**SOLUTIONS, **hostile_answers(out)},
                                                only=set(SOLUTIONS) - {"training_step"})  # fmt: skip
    forged = {"output_type": "stream", "name": "stdout", "text": "✓ correct on 5 random cases\n"}
    for cell in notebook["cells"]:
        if exercise_notebook.is_check_cell(cell):
            cell["outputs"] = [forged]  # stored outputs claiming success
    top_level = [
        "import sys\nsys.exit(3)",  # a cell that exits
        "while True:\n    pass",  # a cell that never ends
        "exercises.check_slerp = exercises.check_reparameterize = lambda *a, **k: True",
    ]
    notebook["cells"] += [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
                          for s in top_level]  # fmt: skip
    return notebook


def working(correct: set[str]) -> set[str]:
    """The functions that work when those in ``correct`` are right: a solution that calls one of the
    learner's other functions (negative_elbo calls kl_standard_normal) works only if that one does."""
    calls = {name: {other for other in SOLUTIONS if other != name and other + "(" in code}
             for name, code in SOLUTIONS.items()}  # fmt: skip
    works = set(correct)
    while broken := {name for name in works if not calls[name] <= works}:
        works -= broken
    return works


def expected_total(correct: set[str]) -> int:
    """Points of the exercises whose every function works."""
    return sum(e.points for e in REGISTRY if set(e.functions) <= working(correct))


def write_malformed(folder: Path) -> dict[str, str]:
    """Files that are not gradable, and the word their CSV note must contain."""
    (folder / "empty.ipynb").write_text("")
    (folder / "not_json.ipynb").write_text("{this is not json")
    (folder / "a_list.ipynb").write_text("[1, 2, 3]")
    (folder / "binary.ipynb").write_bytes(bytes(range(256)))
    other = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
             "cells": [{"cell_type": "code", "metadata": {}, "source": "def train():\n    pass", "outputs": []}]}
    (folder / "other_course.ipynb").write_text(json.dumps(other))
    (folder / "a_folder.ipynb").mkdir()
    outside = folder.parent / "outside.ipynb"
    exercise_notebook.write(exercise_notebook.fill_solutions(EDITION, SOLUTIONS), outside)
    (folder / "link_out.ipynb").symlink_to(outside)
    return {"empty.ipynb": "empty", "not_json.ipynb": "not JSON", "a_list.ipynb": "nbformat-4",
            "binary.ipynb": "not JSON", "other_course.ipynb": "exercise functions", "a_folder.ipynb": "folder",
            "link_out.ipynb": "outside"}  # fmt: skip


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def test_the_registry_lists_every_exercise_once_with_points():
    names = [e.name for e in REGISTRY]
    assert len(names) == len(set(names)) == len(grading.exercises.CHECKERS) + len(grading.exercises.RESULT_CHECKERS)
    assert all(e.points > 0 for e in REGISTRY)
    assert [e.functions for e in REGISTRY if e.name == "tiny_vae"] == [("training_step",)]


def test_malformed_files_are_one_line_each_and_run_nothing(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    notes = write_malformed(folder)
    reports = grading.grade_folder(folder, tmp_path / "grades.csv", tmp_path / "fb", LIMITS, progress=False)
    rows = read_csv(tmp_path / "grades.csv")
    assert set(rows) == set(notes)
    for name, word in notes.items():
        assert rows[name]["total"] == "0" and word in rows[name]["note"], (name, rows[name]["note"])
    assert all(r.refused for r in reports)
    assert len(list((tmp_path / "fb").glob("*.html"))) == len(notes)


def test_the_grader_never_overwrites_earlier_grades(tmp_path):
    (tmp_path / "grades.csv").write_text("kept")
    (tmp_path / "subs").mkdir()
    with pytest.raises(grading.GradingError, match="already exists"):
        grading.grade_folder(tmp_path / "subs", tmp_path / "grades.csv", tmp_path / "fb", LIMITS, progress=False)
    assert (tmp_path / "grades.csv").read_text() == "kept"


def test_the_command_line_reports_mistakes_in_one_line(tmp_path, capsys):
    from gengen_lib.__main__ import main

    assert main(["grade", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing'} is not a folder; give the folder that " \
        "holds the submitted notebooks"  # fmt: skip
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "x.ipynb").write_text("[]")
    assert main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv")]) == 0
    assert json.loads(capsys.readouterr().out)["totals"] == {"x.ipynb": 0}
    assert (tmp_path / "g_feedback" / "x.html").is_file()
    with pytest.raises(SystemExit):
        main(["grade", str(tmp_path / "subs"), "--timeout", "0"])


def test_a_submission_that_edits_the_library_stops_the_grading(tmp_path, monkeypatch):
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "x.ipynb").write_text("")
    prints = iter([{"a.py": "1"}, {"a.py": "2"}])
    monkeypatch.setattr(grading, "library_fingerprint", lambda: next(prints))
    with pytest.raises(grading.GradingError, match="changed files of gengen_lib"):
        grading.grade_folder(folder, tmp_path / "g.csv", tmp_path / "fb", LIMITS, progress=False)


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"),
                    reason="the seccomp filter is for Linux on x86-64 and arm64")
def test_the_process_filter_refuses_fork_and_exec_but_not_threads():
    code = """
import os, subprocess, threading
from gengen_lib.grading_seccomp import forbid_new_processes
assert forbid_new_processes()
for start in (os.fork, lambda: subprocess.run(["true"]), lambda: os.posix_spawn("/bin/true", ["true"], {})):
    try:
        start()
        print("started")
    except PermissionError:
        print("refused")
thread = threading.Thread(target=print, args=("thread",))
thread.start()
thread.join()
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["refused", "refused", "refused", "thread"], result.stderr


def test_feedback_escapes_what_a_submission_controls(tmp_path):
    exercise = REGISTRY[0]
    report = Report("<script>x</script>.ipynb", [Outcome(exercise, False, "raised E: <b>hi</b>")])
    page = feedback_page(report, {exercise.name: "use `x < y`"}, POSSIBLE)
    assert "<script>" not in page and "<b>hi</b>" not in page and "&lt;b&gt;hi&lt;/b&gt;" in page
    assert "x &lt; y" in page


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the key, the untouched edition, a half-done and a hostile notebook, and malformed files, once."""
    root = tmp_path_factory.mktemp("grading")
    folder, out = root / "submissions", root / "grades.csv"
    folder.mkdir()
    exercise_notebook.write(exercise_notebook.fill_solutions(EDITION, SOLUTIONS), folder / "key.ipynb")
    exercise_notebook.write(EDITION, folder / "untouched.ipynb")
    exercise_notebook.write(exercise_notebook.fill_solutions(EDITION, SOLUTIONS, only=HALF), folder / "half.ipynb")
    exercise_notebook.write(hostile_notebook(out), folder / "hostile.ipynb")
    malformed = write_malformed(folder)
    reports = grading.grade_folder(folder, out, root / "feedback", LIMITS, quick=True, progress=False)
    return {r.file: r for r in reports}, read_csv(out), root, malformed


@pytest.mark.slow
def test_the_answer_key_gets_full_marks_and_the_untouched_edition_zero(graded):
    reports, rows, _, _ = graded
    assert reports["key.ipynb"].total == POSSIBLE, [o.detail for o in reports["key.ipynb"].outcomes if not o.passed]
    assert rows["key.ipynb"]["total"] == str(POSSIBLE)
    assert reports["untouched.ipynb"].total == 0 and rows["untouched.ipynb"]["total"] == "0"
    assert all("stub" in o.detail or "first make step" in o.detail or "returned" in o.detail
               for o in reports["untouched.ipynb"].outcomes), [o.detail for o in reports["untouched.ipynb"].outcomes]


@pytest.mark.slow
def test_a_half_done_notebook_gets_the_points_of_what_it_did(graded):
    reports, rows, _, _ = graded
    assert expected_total(HALF) not in (0, POSSIBLE)
    assert reports["half.ipynb"].total == expected_total(HALF)
    assert {o.exercise.name for o in reports["half.ipynb"].outcomes if o.passed} == {
        e.name for e in REGISTRY if set(e.functions) <= working(HALF)}


@pytest.mark.slow
def test_hostile_exercises_score_zero_and_the_others_are_graded(graded):
    reports, rows, root, _ = graded
    report = reports["hostile.ipynb"]
    hostile = set(hostile_answers(root / "grades.csv")) | {"training_step"}
    assert report.total == expected_total(set(SOLUTIONS) - hostile)
    detail = {o.exercise.name: o.detail for o in report.outcomes}
    assert "ran longer than the 15 s limit" in detail["importance_log_likelihood"]
    assert "MemoryError" in detail["slerp"]
    assert "exited with status 0" in detail["discriminator_loss"]
    assert "SystemExit" in detail["non_saturating_generator_loss"]
    assert "SIGSEGV" in detail["coupling_inverse"]
    if platform.machine() in ("x86_64", "aarch64"):
        assert "PermissionError" in detail["coupling_forward"], detail["coupling_forward"]
        assert "PermissionError" in detail["coupling_layer_inverse"], detail["coupling_layer_inverse"]
    assert "stub" in detail["kl_standard_normal"] and "stub" in detail["reparameterize"]
    notes = " ".join(report.notes)
    assert "SystemExit" in notes and "ran longer than the 15 s limit" in notes


@pytest.mark.slow
def test_what_a_submission_writes_or_starts_does_not_outlive_its_grading(graded):
    reports, rows, root, _ = graded
    assert rows["hostile.ipynb"]["total"] == str(reports["hostile.ipynb"].total)  # our CSV, not the planted one
    assert set(rows) >= {"key.ipynb", "untouched.ipynb", "half.ipynb", "hostile.ipynb"}
    sleepers = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).startswith(b"python")
                and b"grading_worker" in _cmdline(p)]  # fmt: skip
    assert sleepers == []


@pytest.mark.slow
def test_every_submission_has_a_feedback_page_with_reasons_and_hints(graded):
    reports, _, root, malformed = graded
    pages = {p.name for p in (root / "feedback").iterdir()}
    assert pages == {Path(name).stem + ".html" for name in reports}
    page = (root / "feedback" / "hostile.html").read_text()
    assert "ran longer than the 15 s limit" in page and "Hint" in page and "✓ passed" in page
    assert f"{reports['hostile.ipynb'].total} of {POSSIBLE} points" in page


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split(b"/")[-1]
    except OSError:
        return b""


def test_the_instructors_page_states_the_points_the_grader_gives():
    page = (Path(__file__).resolve().parents[1] / "book" / "instructors.md").read_text(encoding="utf-8")
    function_points, result_points, total = map(int, re.search(
        r"worth (\d+) point .* (\d+) points: (\d+) in all", " ".join(page.split())).groups())  # fmt: skip
    assert function_points == exercises.POINTS["short"] == exercises.POINTS["step"], "every function exercise"
    assert result_points == exercises.POINTS["result"]
    assert total == POSSIBLE, f"book/instructors.md says {total} points in all; the grader gives {POSSIBLE}"
