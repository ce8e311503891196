"""The exercises notebook read as a structure: stub cells, check cells, hints and solutions.

``notebooks/04_exercises.ipynb`` marks its parts by convention, and this module is the one
place that knows it:

* a **stub cell** is a code cell that defines one function and still says ``# TODO``;
* a **check cell** is a code cell whose first line starts with ``# check``;
* a **hint** is a folded MyST admonition titled ``Hint`` in a markdown cell before its stub;
* a **solution** is any other folded admonition (``Solution``, and the note that answers a
  question to predict): a fenced block opened by four backticks and ``{admonition} TITLE``.

From it, :func:`student_edition` makes the notebook a student receives (no solution, no
outputs, stubs and checks tagged), :func:`solution_code` gives each exercise's reference
solution, :func:`fill_solutions` writes solutions into stubs (the answer key an instructor
grades to check the grader) and :func:`hints` gives each exercise's hint for feedback pages.
Notebooks are nbformat-4 JSON dictionaries.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

COURSE_NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_exercises.ipynb"

ANSWER_TAG = "answer"  # stub cells: the student writes here
CHECK_TAG = "check"  # check cells: run, do not edit (the grader never runs them)
EDITION_NOTE = """\
**Student edition.** This notebook has no solutions: the folded solutions this page mentions stay
with your instructor. Write your answers in the cells tagged `answer` (each says `# TODO`), run the
`# check` cell under each, and hand in this `.ipynb` file. Your instructor grades it by running
your functions on the checkers' own inputs, in a separate process: printed text, stored outputs and
changes to the checkers do not count. Run it in the course's Python environment (where `gengen_lib`
is installed, for example `.venv/bin/jupyter lab` from a copy of the course): the library finds
the MNIST data and the shipped weights by itself, wherever this file is."""

_ADMONITION = re.compile(r"^(`{3,})\{admonition\}[ \t]*(?P<title>[^\n]*)\n(?P<body>.*?)^\1[ \t]*$\n?",
                         re.MULTILINE | re.DOTALL)  # fmt: skip
_PYTHON_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)


def read(path: str | Path = COURSE_NOTEBOOK) -> dict:
    """A notebook file as an nbformat-4 dictionary."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    """A cell's text (nbformat stores it as a string or a list of lines)."""
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def is_check_cell(cell: dict) -> bool:
    """A code cell that runs a checker (or the reference results): the grader never runs it."""
    tags = cell.get("metadata", {}).get("tags", [])
    return cell.get("cell_type") == "code" and (CHECK_TAG in tags or _first_line(source(cell)).startswith("# check")
                                                or "reference_results(" in source(cell))  # fmt: skip


def defined_functions(code: str) -> list[str]:
    """Names of the functions a cell defines at top level (none when it does not parse)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def stub_name(cell: dict) -> str | None:
    """The exercise a stub cell is for, or None when the cell is not a stub."""
    names = defined_functions(source(cell)) if cell.get("cell_type") == "code" else []
    return names[0] if len(names) == 1 and "# TODO" in source(cell) else None


def admonitions(markdown: str) -> list[tuple[str, str]]:
    """(title, body) of each admonition block in a markdown text, in order."""
    return [(m["title"].strip(), m["body"]) for m in _ADMONITION.finditer(markdown)]


def without_solutions(markdown: str) -> str:
    """The markdown with every admonition other than a Hint removed."""
    kept = _ADMONITION.sub(lambda m: m[0] if m["title"].strip() == "Hint" else "", markdown)
    return re.sub(r"\n{3,}", "\n\n", kept).strip()


def solution_texts(notebook: dict) -> list[str]:
    """The body of every non-Hint admonition of a notebook: the text no student edition may contain."""
    return [body for cell in notebook["cells"] if cell.get("cell_type") == "markdown"
            for title, body in admonitions(source(cell)) if title != "Hint"]  # fmt: skip


def solution_code(notebook: dict) -> dict[str, str]:
    """Each exercise's solution: function name -> the code of the solution block that defines it."""
    solutions = {}
    for body in solution_texts(notebook):
        for block in _PYTHON_BLOCK.finditer(body):
            for name in defined_functions(block["code"]):
                solutions[name] = block["code"]
    return solutions


def hints(notebook: dict) -> dict[str, str]:
    """Each exercise's hint (markdown), keyed by the function its stub defines: the last Hint before the stub."""
    found, last = {}, None
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "markdown":
            last = next((body.strip() for title, body in reversed(admonitions(source(cell))) if title == "Hint"), last)
        elif (name := stub_name(cell)) and last is not None:
            found[name], last = last, None
    return found


def student_edition(notebook: dict) -> dict:
    """The notebook a student receives: solutions removed, outputs cleared, stubs and checks tagged.

    A note at the top says it is the student edition; stub cells get the tag ``answer`` and
    check cells the tag ``check`` plus ``editable: false`` (JupyterLab then refuses edits).
    """
    edition = copy.deepcopy(notebook)
    cells = [_markdown_cell(EDITION_NOTE, "student-edition-note")]
    for cell in edition["cells"]:
        if cell.get("cell_type") == "markdown":
            text = without_solutions(source(cell))
            if not text:
                continue
            cell["source"] = text
        elif cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
            metadata = cell.setdefault("metadata", {})
            metadata.pop("papermill", None)
            metadata.pop("execution", None)
            if stub_name(cell):
                _tag(metadata, ANSWER_TAG)
            elif is_check_cell(cell):
                _tag(metadata, CHECK_TAG)
                metadata["editable"] = metadata["deletable"] = False
        cells.append(cell)
    edition["cells"] = cells
    edition["metadata"].pop("papermill", None)
    return edition


def fill_solutions(notebook: dict, solutions: dict[str, str], only: set[str] | None = None) -> dict:
    """A copy of ``notebook`` whose stub cells hold the given solutions (all, or the names in ``only``)."""
    filled = copy.deepcopy(notebook)
    for cell in filled["cells"]:
        name = stub_name(cell)
        if name in solutions and (only is None or name in only):
            cell["source"] = solutions[name]
    return filled


def write(notebook: dict, path: str | Path) -> None:
    """Write a notebook as nbformat-4 JSON (one-space indent, as Jupyter does)."""
    Path(path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _first_line(code: str) -> str:
    return next((line.strip() for line in code.splitlines() if line.strip()), "")


def _tag(metadata: dict, tag: str) -> None:
    tags = metadata.setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def _markdown_cell(text: str, cell_id: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}
