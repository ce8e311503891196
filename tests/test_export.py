"""The book's explorer weights are built from weights/ by `python -m gengen_lib.export`, never committed:
the export must be a pure function of the shipped models, byte for byte."""

from __future__ import annotations

import subprocess

import pytest
from support import ROOT

from gengen_lib.export import export_book_explorers
from gengen_lib.export.format import BOOK_DIR


@pytest.mark.slow
def test_exporting_twice_writes_the_same_bytes(book_weights, tmp_path):
    """A second export (about 10 s) writes the same files with the same bytes as the first."""
    again = export_book_explorers(tmp_path)
    assert sorted(p.name for p in again) == sorted(p.name for p in book_weights.iterdir())
    for path in again:
        assert path.read_bytes() == (book_weights / path.name).read_bytes(), f"{path.name} differs between exports"


def test_the_explorer_weights_are_not_committed(book_weights):
    """Every file the export writes is git-ignored in book/explorer/ (derived files are built, not committed)."""
    names = [str((BOOK_DIR / p.name).relative_to(ROOT)) for p in book_weights.iterdir()]
    ignored = subprocess.run(["git", "check-ignore", *names], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert sorted(ignored) == sorted(names), f"not git-ignored: {sorted(set(names) - set(ignored))}"
    tracked = subprocess.run(["git", "ls-files", *names], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not tracked, f"committed although derived: {tracked}"
