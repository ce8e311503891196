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
import pytest
import torch

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


# --- what an explorer's canvases show ----------------------------------------------------------------

# Every canvas of an explorer as its RGBA bytes' weighted sums per row (enough to see any change).
CANVASES = """root => [...document.querySelectorAll(`${root} canvas`)].map(c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, rows = [];
    for (let y = 0; y < c.height; y++) {
        let s = 0;
        for (let i = 4 * y * c.width; i < 4 * (y + 1) * c.width; i++) s += d[i] * (i % 7 + 1);
        rows.push(s);
    }
    return rows; })"""
# The grey level at the centre of every pixel block of the first ``count`` tiles of a digit grid, (count, 784);
# ``layout`` names the explorer's grid description ``{side, scale, gap, columns}``, e.g. "GengenFlowExplorer.SAMPLES".
READ_TILES = """([root, layout, count]) => {
    const [api, grid] = layout.split('.'), {side, scale, gap, columns} = window[api][grid];
    const c = document.querySelector(`${root} canvas`);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, tile = side * scale, out = [];
    for (let n = 0; n < count; n++) {
        const x0 = (n % columns) * (tile + gap), y0 = Math.floor(n / columns) * (tile + gap), img = [];
        for (let i = 0; i < side; i++) for (let j = 0; j < side; j++)
            img.push(d[4 * ((y0 + i * scale + 1) * c.width + x0 + j * scale + 1)]);
        out.push(img);
    }
    return out;
}"""

# Each canvas of an explorer (the element with ``attribute``): inside the explorer's box, its width and background.
CANVAS_BOXES = """attribute => [...document.querySelectorAll(`[${attribute}] canvas`)].map(c => {
    const r = c.getBoundingClientRect(), root = c.closest(`[${attribute}]`).getBoundingClientRect();
    return {inside: r.left >= root.left && r.right <= root.right, width: r.width,
            background: getComputedStyle(c).backgroundColor}; })"""


def assert_canvases_fit_the_column_on_white(page, attribute: str, count: int) -> None:
    """No sideways scrolling; the explorer's ``count`` canvases lie inside it, over 200 px wide, on white."""
    assert page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth") <= 1
    boxes = page.evaluate(CANVAS_BOXES, attribute)
    assert len(boxes) == count and all(b["inside"] and b["width"] > 200 for b in boxes), boxes
    assert all(b["background"] == "rgb(255, 255, 255)" for b in boxes), boxes


def randomized(model, scale: float, float16: bool):
    """``model`` in eval mode with every weight drawn from N(0, scale^2) (rounded through float16 if asked), so
    that no layer starts as the identity; torch's global generator decides the draws."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn_like(p))
            if float16:
                p.copy_(p.half().float())
    return model.eval()


def offline_context(browser, width: int = 1280, height: int = 900, dark: bool = False):
    """A browser context with a ``width`` x ``height`` px window (the dark colour scheme when ``dark``) where
    every request off this machine is aborted (a :class:`PageLog` still records it) and every wait gives up
    after :data:`TIMEOUT_MS`. The caller closes it."""
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme="dark" if dark else "light")
    context.set_default_timeout(TIMEOUT_MS)  # a generous ceiling on every wait: a busy machine is slow, not broken
    context.route("**/*", lambda route: route.continue_() if is_local(route.request.url) else route.abort())
    return context


def open_explorer_page(browser, server, page: str, ready: str, scheme="http", width=1280, dark=False, init_script=None):
    """An explorer page of the built book (``page``, e.g. "book/fm_explorer.html") over http or file://, light or
    dark, with every request off this machine refused; returns (context, page, PageLog) once ``ready`` (a CSS
    selector the page sets when its first drawing is done) matches. ``init_script`` runs before the page's own."""
    if not (HTML / page).is_file():
        source = page.removesuffix(".html")
        pytest.fail(f"{HTML / page} is missing: add '{source}' to _toc.yml and build the book")
    url = server + page if scheme == "http" else (HTML / page).as_uri()
    context = offline_context(browser, width, dark=dark)
    tab = context.new_page()
    log = PageLog(tab)
    if init_script:
        tab.add_init_script(init_script)
    tab.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    if dark:
        tab.evaluate("() => document.documentElement.setAttribute('data-theme', 'dark')")
    # Explorers draw in slices after load: seconds on a quiet machine, far more on a busy one.
    tab.wait_for_selector(ready, timeout=4 * TIMEOUT_MS)
    return context, tab, log


def assert_trained_like_the_shipped(trained_history, shipped_history, key: str, held_out: float, recorded: float,
                                    nats: float = 0.02) -> None:  # fmt: skip
    """A model retrained with a shipped model's command is that model, as far as another CPU can tell.

    The same kind of CPU reproduces the shipped weights to the bit. Another kind rounds its matrix
    products differently (another kernel: AVX-512 against AVX2), and tens of epochs amplify those last
    bits (seen: a RealNVP's weights moved by 0.8, its held-out NLL by 0.006 nats). What such a run still
    shows is the recipe: its first epoch's ``key`` equals the shipped history's to 1e-6 (a 3% other
    learning rate moves it by 2e-3), and its held-out NLL is the manifest's within ``nats``.
    """
    first, shipped_first = trained_history.curve(key)[0], shipped_history.curve(key)[0]
    assert abs(first - shipped_first) <= 1e-6 * abs(shipped_first), f"first epoch's {key}: {first} vs {shipped_first}"
    assert len(trained_history.epochs) == len(shipped_history.epochs)
    assert abs(held_out - recorded) <= nats, f"held-out NLL {held_out:.4f} vs the manifest's {recorded:.4f}"
