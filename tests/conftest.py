"""Shared fixtures: small slices of the real data, a temporary data file to corrupt."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
import torch
from support import CHROMIUM, CHROMIUM_ARGS, HTML, QuietHandler

from gengen_lib import data


@pytest.fixture(scope="session")
def mnist_path():
    return data.default_mnist_path()


@pytest.fixture(scope="session")
def small_train():
    """The first 512 training images and labels."""
    return data.load_mnist("train").subset(512)


@pytest.fixture(scope="session")
def book_weights(tmp_path_factory) -> Path:
    """A folder holding every explorer's weights as ``python -m gengen_lib.export`` writes them for
    the book (exported once per session: about 10 s)."""
    from gengen_lib.export import export_book_explorers

    out = tmp_path_factory.mktemp("explorer-weights")
    export_book_explorers(out)
    return out


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.fixture
def scratch_runs(tmp_path, monkeypatch):
    """Nothing lands in the repository's runs/; the data path is the default one; threads are restored."""
    monkeypatch.setenv("GENGEN_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("GENGEN_MNIST_PATH", raising=False)
    threads = torch.get_num_threads()
    yield tmp_path / "runs"
    torch.set_num_threads(threads)



# --- the built book in headless chromium ---------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    """Base URL of a local http server over _build/html, running in a thread."""
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML}/index.html is missing: build the book first (jupyter-book build .)")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium driven by Playwright."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install_browser.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
