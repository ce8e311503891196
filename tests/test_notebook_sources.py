"""The notebooks' text sources (notebooks/NAME.py) are what people edit; the .ipynb files are
their executed copies. These specifications keep the two in step and the copies diff-friendly."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("notebook_sources", ROOT / "scripts" / "notebooks.py")
sources = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sources)

NAMES = sources.names()


def test_every_notebook_in_the_book_has_a_text_source():
    stored = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert stored == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_text_source_and_notebook_agree_on_every_cell(name):
    assert sources.disagreements(name) == []


def test_a_changed_cell_is_reported(tmp_path, monkeypatch):
    name = NAMES[0]
    text = (ROOT / "notebooks" / f"{name}.py").read_text()
    (tmp_path / f"{name}.py").write_text(text.replace("# %%\n", "# %%\nx = 1  # an edit\n", 1))
    (tmp_path / f"{name}.ipynb").write_bytes((ROOT / "notebooks" / f"{name}.ipynb").read_bytes())
    monkeypatch.setattr(sources, "NOTEBOOKS", tmp_path)
    problems = sources.disagreements(name)
    assert len(problems) == 1 and "differs" in problems[0]


@pytest.mark.parametrize("name", NAMES)
def test_stored_notebooks_carry_no_volatile_metadata(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        assert set(cell.metadata) <= {"tags"}, f"cell {cell.id} keeps {sorted(cell.metadata)}"
    assert set(nb.metadata.get("papermill", {})) <= {"duration", "parameters"}
    assert sources.normalize(nb) == nb, "ids or metadata would change on the next write"


def test_cell_ids_depend_only_on_content():
    nb = sources.read_source(NAMES[0])
    first, again = sources.normalize(nb), sources.normalize(sources.read_source(NAMES[0]))
    assert [c.id for c in first.cells] == [c.id for c in again.cells]
    assert len({c.id for c in first.cells}) == len(first.cells)


@pytest.mark.parametrize("name", NAMES)
def test_nbval_compares_nine_in_ten_cells_that_print_and_every_figure(name):
    counts = sources.compared(nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4))
    assert counts["compared"] >= 0.9 * counts["printing"], f"{name}: {counts}"
    assert counts["figures compared"] == counts["figures"], f"{name}: a figure without a fingerprint: {counts}"


@pytest.mark.parametrize("name", NAMES)
def test_a_cell_shows_each_figure_once(name):
    """A figure that is also a cell's value (``alt_text.describe(fig, ...)`` on the last line) would be
    shown twice: once as the value, once by the inline backend at the end of the cell."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    twice = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" for out in cell.outputs
             if out.output_type == "execute_result" and any(k.startswith("image/") for k in out.get("data", {}))]
    assert not twice, f"cells {twice} show a figure as their value too; end them with plt.show()"


@pytest.mark.parametrize("name", NAMES)
def test_a_cell_left_out_of_the_comparison_says_why(name):
    for cell in sources.read_source(name).cells:
        if sources.IGNORED_TAG in cell.metadata.get("tags", []):
            assert f"# {sources.IGNORED_TAG}: " in cell.source, f"{name}: say why in the cell: {cell.source[:80]!r}"


def test_the_output_diff_names_the_cell_and_shows_the_number_that_moved_and_nothing_else():
    stored = nbformat.read(ROOT / "notebooks" / "06_running.ipynb", as_version=4)
    fresh = sources.normalize(stored)
    code = [c for c in fresh.cells if c.cell_type == "code" and c.outputs]
    code[-1].outputs[0].text = code[-1].outputs[0].text.replace(" 14 s", " 15 s")  # a duration: sanitized
    assert sources.output_diff(stored, fresh, "06_running") == []
    code[0].outputs[0].text = code[0].outputs[0].text.replace("100", "101", 1)  # a number that moved
    diff = sources.output_diff(stored, fresh, "06_running")
    assert diff[0].startswith("--- stored   notebooks/06_running.ipynb::Cell ")
    assert [line[0] for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")] == ["-", "+"]
    assert "101" in next(line for line in diff if line.startswith("+") and not line.startswith("+++"))
