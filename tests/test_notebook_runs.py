"""Runs of a chapter that ``pytest --nbval`` does not make: with one thread, and training its own models.

nbval re-executes every notebook in full mode on the shipped models with the machine's threads
(two on CI) and compares the outputs to the stored ones. These specifications add: the compared
outputs do not depend on the thread count, and the learner's "train it yourself" path
(``pretrained=False``) still runs, in quick mode and away from the repository's runs/.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("notebook_sources", ROOT / "scripts" / "notebooks.py")
sources = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sources)

CHAPTER = "01_vae"
"""The chapter with the most Monte Carlo sums (importance sampling, KL, gradient variances)."""


def first_line(nb: nbformat.NotebookNode) -> str:
    """The first line any code cell printed: the chapters' ``mode: ...; device: ...`` line."""
    return next(out.text.splitlines()[0] for c in nb.cells if c.cell_type == "code"
                for out in c.get("outputs", []) if out.output_type == "stream")  # fmt: skip


@pytest.mark.slow
def test_a_chapter_run_with_one_thread_shows_the_outputs_stored_from_two():
    stored = nbformat.read(ROOT / "notebooks" / f"{CHAPTER}.ipynb", as_version=4)
    assert first_line(stored) == "mode: full; device: CPU (2 threads)", (
        f"notebooks/{CHAPTER}.ipynb was not stored from a 2-thread CPU run; fix: on a 2-core machine, "
        f"python scripts/notebooks.py execute {CHAPTER}"
    )
    fresh = sources.run(CHAPTER, {"GENGEN_THREADS": "1", "OMP_NUM_THREADS": "1", "GENGEN_QUICK": "0"})
    assert first_line(fresh) == "mode: full; device: CPU (1 threads)"
    changes = sources.output_diff(stored, fresh, CHAPTER, compared_only=True)
    assert not changes, "\n".join(changes)


@pytest.mark.slow
def test_the_vae_chapter_trains_its_own_models_in_quick_mode(tmp_path):
    fresh = sources.run(CHAPTER, {"GENGEN_RUNS": str(tmp_path / "runs"), "OMP_NUM_THREADS": "2"},
                        parameters={"pretrained": False, "quick": True})  # fmt: skip
    assert first_line(fresh).startswith("mode: quick;")
    printed = "\n".join(out.get("text", "") for c in fresh.cells if c.cell_type == "code" for out in c.outputs)
    assert "(from this run)" in printed and "shipped weights" not in printed
    assert any((tmp_path / "runs").glob("vae-*/checkpoint.safetensors")), "the models were not trained into runs/"
