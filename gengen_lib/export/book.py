"""The book's explorer weights: every family's exporter, run by ``python -m gengen_lib.export``.

Each exporter takes the output folder and returns the paths it wrote, from the shipped models in
``weights/`` only (nothing is trained), so the files are built, never committed: ``make book``
runs this before building the pages.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .. import families
from .format import BOOK_DIR


def export_book_explorers(out_dir: str | Path = BOOK_DIR) -> list[Path]:
    """Write the weights of every in-page explorer of the book to ``out_dir``: each family's
    ``exporter`` (:mod:`gengen_lib.families`), in the registry's order; returns the paths."""
    exporters = [family.exporter for family in families.FAMILIES.values() if family.exporter]
    return [path for exporter in exporters for path in exporter(out_dir)]


def main(argv: list[str] | None = None) -> int:
    """``python -m gengen_lib.export [OUT_DIR]``: export, then print each file's size and the time taken."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python -m gengen_lib.export [OUT_DIR]  (default: book/explorer)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    paths = export_book_explorers(argv[0] if argv else BOOK_DIR)
    for path in paths:
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
    print(f"exported {len(paths)} explorer weight files in {time.perf_counter() - start:.1f} s")
    return 0
