"""What the tests share besides fixtures: command-line options of tiny runs, where the built book
is, the browser's settings, and readers of what the explorer pages draw and load.

(Fixtures are in ``conftest.py``. Tests import these names from here, never from ``conftest``:
``notebooks/conftest.py`` is also a module named ``conftest``, and which of the two an import finds
depends on the order in which pytest collected them.)
"""

from __future__ import annotations

import base64
import http.server
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

# Command-line runs that only need to exercise the loop: two batches per epoch, one thread, the CPU;
# TINY trains a 2-d VAE with 16 hidden units, TINY_FLOW a 16-wide flow (each family takes only its own options).
TINY_RUN = ["--quick", "--train-subset", "256", "--quiet", "--threads", "1", "--device", "cpu"]
TINY = [*TINY_RUN, "--hidden", "16", "--z-dim", "2"]
TINY_FLOW = [*TINY_RUN, "--hidden", "16"]



# --- the built book in headless chromium (tests/test_browser.py, tests/test_explorer.py) ---------

ROOT = Path(__file__).resolve().parents[1]
# The built book: `jupyter-book build .` writes _build/html; GENGEN_BOOK_BUILD points the browser
# tests at another build folder (one made with `jupyter-book build . --path-output DIR`, say).
BUILD = Path(os.environ.get("GENGEN_BOOK_BUILD") or ROOT / "_build")
HTML = BUILD / "html"
SHOTS = BUILD / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
TIMEOUT_MS = 600_000  # a ceiling for events (a page loaded, a canvas drawn), not a deadline: CI may run under load


def is_local(url: str) -> bool:
    """True for URLs a browser can load with no network: this machine, files, inline data."""
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static file handler that does not log every request to stderr."""

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


# Installed before a page's own scripts: the duration (ms) of every main-thread task over 50 ms, in
# window.__longtasks (PerformanceObserver 'longtask'). A reader feels a task over about 200 ms as a frozen page.
OBSERVE_LONG_TASKS = """window.__longtasks = [];
new PerformanceObserver(list => { for (const e of list.getEntries()) window.__longtasks.push(e.duration); })
    .observe({type: 'longtask', buffered: true});"""


class PageLog:
    """Everything a page asked for or complained about while it loaded, and its long tasks."""

    def __init__(self, page):
        self.page = page
        page.add_init_script(OBSERVE_LONG_TASKS)
        self.requests: list[str] = []
        self.problems: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def long_tasks(self) -> list[float]:
        """The durations (ms) of the page's main-thread tasks over 50 ms so far, longest first."""
        return sorted(self.page.evaluate("() => window.__longtasks || []"), reverse=True)


# --- explorer weight files, read without gengen_lib (as the pages' JavaScript reads them) ------------


def numpy_array(entry: dict, dtype: str) -> np.ndarray:
    """An exported array ``{shape, data: base64}`` of little-endian ``dtype`` bytes, as float64."""
    raw = base64.b64decode(entry["data"])
    return np.frombuffer(raw, dtype="<f2" if dtype == "float16" else "<f4").reshape(entry["shape"]).astype(np.float64)


def numpy_document(path: Path, registry: str) -> dict:
    """The JSON document of an exported ``.json`` file, or of a ``.js`` file that stores it in ``window[registry]``."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".js":
        first, text, last = text.rstrip("\n").split("\n")
        assert first.startswith(f"(window.{registry} = window.{registry} || {{}})[") and last == ";"
    return json.loads(text)


# --- a digit drawn on an explorer's canvas ------------------------------------------------------------

# Grey levels at the centres of the 28 x 28 blocks of one image drawn on a canvas at (x0, 0), each
# pixel a scale x scale block, and how far any pixel of that image is from grey, opaque and its block's centre.
READ_DIGIT = """([selector, x0, scale]) => {
    const canvas = document.querySelector(selector);
    const side = 28 * scale, data = canvas.getContext('2d').getImageData(x0, 0, side, side).data;
    const at = (x, y) => data[4 * (y * side + x)];
    const centres = [];
    let spread = 0;
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
        const o = 4 * (y * side + x);
        const c = at(Math.floor(x / scale) * scale + scale / 2, Math.floor(y / scale) * scale + scale / 2);
        spread = Math.max(spread, Math.abs(data[o] - c), Math.abs(data[o + 1] - data[o]),
                          Math.abs(data[o + 2] - data[o]), 255 - data[o + 3]);
    }
    for (let i = 0; i < 28; i++)
        for (let j = 0; j < 28; j++) centres.push(at(j * scale + scale / 2, i * scale + scale / 2));
    return {centres, spread};
}"""


def read_digit(page, selector: str, x0: int = 0, scale: int = 8) -> np.ndarray:
    """The 784 grey levels (0..255, row-major) of the digit drawn at (x0, 0) on the canvas ``selector``."""
    result = page.evaluate(READ_DIGIT, [selector, x0, scale])
    assert result["spread"] == 0, "the image is not 28 x 28 uniform grey blocks"
    return np.array(result["centres"], dtype=np.float64)
