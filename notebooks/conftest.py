"""pytest hooks for the notebooks: how long each one took under ``pytest --nbval``.

(The fixtures of the unit tests are in ``tests/conftest.py``; this one, beside the notebooks, sees their
cells, which ``tests/conftest.py`` does not.)
"""

from __future__ import annotations

from collections import defaultdict

_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    """Add every phase of a notebook cell (the kernel starts in the first cell's set-up) to its notebook."""
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    terminalreporter.section("seconds per notebook (kernel start, every cell, comparison)")
    for path, seconds in _seconds.items():
        terminalreporter.write_line(f"{path:<40} {seconds:7.1f} s")
    terminalreporter.write_line(f"{'all notebooks':<40} {sum(_seconds.values()):7.1f} s")
