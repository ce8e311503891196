"""Specification of the student edition: no solution survives, and it runs from anywhere with every check 'not yet'."""

from __future__ import annotations

import json

import pytest

from gengen_lib import exercise_notebook
from gengen_lib.__main__ import main

COURSE = exercise_notebook.read()
EDITION = exercise_notebook.student_edition(COURSE)


def edition_text() -> str:
    return "\n".join(exercise_notebook.source(c) for c in EDITION["cells"])


def solution_lines() -> list[str]:
    """Every line of every reference solution (code and prose) that says something: not a def line, which
    the stub repeats, nor a fence, nor a phrase a kept hint also says (``loss.backward()``)."""
    hints = "\n".join(exercise_notebook.hints(COURSE).values())
    lines = {line.strip() for body in exercise_notebook.solution_texts(COURSE) for line in body.splitlines()}
    return sorted(line for line in lines if len(line) >= 8 and line not in hints
                  and not line.startswith(("def ", "```", ":class:")))  # fmt: skip


def test_the_course_has_a_solution_for_every_stub():
    stubs = {exercise_notebook.stub_name(c) for c in COURSE["cells"]} - {None}
    assert stubs and stubs == set(exercise_notebook.solution_code(COURSE))
    assert set(exercise_notebook.hints(COURSE)) == stubs


def test_no_solution_text_survives_in_the_edition():
    text = edition_text()
    lines = solution_lines()
    assert len(lines) > 100
    assert [line for line in lines if line in text] == []
    assert exercise_notebook.solution_texts(EDITION) == []
    for name, code in exercise_notebook.solution_code(COURSE).items():
        assert code not in text, name


def test_hints_and_checks_stay_and_answers_are_marked():
    course_text = "\n".join(exercise_notebook.source(c) for c in COURSE["cells"])
    assert edition_text().count("{admonition} Hint") == course_text.count("{admonition} Hint") > 0
    assert [exercise_notebook.hints(EDITION)] == [exercise_notebook.hints(COURSE)]
    code = [c for c in EDITION["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    stubs = [c for c in code if exercise_notebook.stub_name(c)]
    checks = [c for c in code if exercise_notebook.is_check_cell(c)]
    assert len(stubs) == len(exercise_notebook.solution_code(COURSE))
    assert all("answer" in c["metadata"]["tags"] for c in stubs)
    assert all("check" in c["metadata"]["tags"] and c["metadata"]["editable"] is False for c in checks)
    assert "Student edition" in exercise_notebook.source(EDITION["cells"][0])


def test_the_command_writes_the_edition_and_never_overwrites(tmp_path, capsys):
    assert main(["student", str(tmp_path / "class")]) == 0
    written = tmp_path / "class" / "04_exercises.ipynb"
    assert json.loads(written.read_text()) == EDITION
    assert main(["student", str(tmp_path / "class")]) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow
def test_the_edition_runs_top_to_bottom_from_another_folder_and_every_check_says_not_yet(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    monkeypatch.setenv("GENGEN_QUICK", "1")
    notebook = nbformat.reads(json.dumps(EDITION), as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    checks = [c for c in notebook.cells if exercise_notebook.is_check_cell(c) and "reference_results" not in c.source]
    assert len(checks) == len({c.source for c in checks}) > 20
    for cell in checks:
        text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)
        assert "✗" in text and "not yet correct" in text, (cell.source, text)
        assert not any(o.output_type == "error" for o in cell.outputs)
