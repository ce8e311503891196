"""Open every page of the built book in headless chromium and check that it works offline.

For each page: no console error, no failed request, no request to any host but this machine,
math typeset by MathJax (without TeX errors), and the stored ipywidgets rendered. Each page
is loaded over http from a local server and as a file:// URL. Screenshots of the http loads
go to ``_build/screenshots/`` for a human to look at.

Needs the built book (``jupyter-book build .``) and Debian's chromium
(``scripts/install_browser.sh``); Playwright drives /usr/bin/chromium, no ``playwright install``.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from support import HTML, SHOTS, TIMEOUT_MS, PageLog, is_local, offline_context

from gengen_lib import exercises

pytestmark = pytest.mark.browser

SKIP_DIRS = {"_static", "_sources", "_images"}
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="\d+; url=([^"]+)"', re.IGNORECASE)
RAW_LABEL_MATH = r"""() => ![...document.querySelectorAll('.widget-subarea .widget-label')]
    .some(label => /\$[^$]+\$/.test(label.textContent))"""
# MathJax marks a TeX error with mjx-merror and an undefined macro with red text.
TEX_ERRORS = """() => [...document.querySelectorAll('mjx-merror, mjx-mtext[style*="color: red"]')]
    .map(e => e.closest('mjx-container').textContent)"""
MAX_PAGE_BYTES = 3_000_000  # transferred, gzip-compressed as a static host serves it
# An explorer's own weight files (written by gengen_lib/export/) load only on its page and do not count.
EXPLORER_WEIGHTS = re.compile(r"_static/explorer/(decoder|generator|flow)_[^/]*\.js$")
# Each figure's shown width / height against its natural one; and its dark-mode background.
FIGURE_SHAPES = """() => [...document.querySelectorAll('.cell_output img, .output img, figure img')]
    .filter(img => img.naturalWidth > 0 && img.getBoundingClientRect().width > 0)
    .map(img => { const r = img.getBoundingClientRect();
                  return {src: img.getAttribute('src').slice(-40), shown: r.width / r.height,
                          natural: img.naturalWidth / img.naturalHeight}; })"""
# Output and code boxes whose content is wider than the box (they would scroll sideways).
SIDEWAYS = """() => { const column = document.querySelector('.bd-article').getBoundingClientRect().right;
    return [...document.querySelectorAll('.cell_output pre, .cell_input pre, div.highlight pre, table, img')]
    .filter(e => e.getBoundingClientRect().width > 0
                 && (e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > column + 1))
    .map(e => (e.textContent || e.getAttribute('src') || '').trim().slice(0, 60)); }"""
# Sliders on a page: live only where a script of ours drives them (the explorers).
INERT_SLIDERS = """() => [...document.querySelectorAll('input[type=range], .widget-slider, .jupyter-widgets')]
    .filter(e => !e.closest('[data-live-explorer]')).length"""
PAGE_OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"


def book_pages() -> list[str]:
    """Paths (relative to _build/html) of the book's pages: index plus every content page."""
    if not HTML.is_dir():
        return []
    pages = []
    for path in sorted(HTML.rglob("*.html")):
        rel = path.relative_to(HTML)
        if rel.parts[0] in SKIP_DIRS or rel.as_posix() in SKIP_PAGES:
            continue
        pages.append(rel.as_posix())
    return pages


def check_math(page) -> int:
    """Wait for MathJax; assert each math element is typeset without TeX errors. Returns their count."""
    n_math = page.locator(".math").count()
    if n_math == 0:
        return 0
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=TIMEOUT_MS)
    page.evaluate("() => MathJax.startup.promise")
    untypeset = page.locator(".math:not(:has(mjx-container))").count()
    assert untypeset == 0, f"{untypeset} of {n_math} math elements not typeset by MathJax"
    errors = page.evaluate(TEX_ERRORS)
    assert not errors, f"TeX errors or undefined macros (shown in red): {errors}"
    return n_math


def check_widgets(page, html: str) -> int:
    """Assert every stored widget view is rendered by html-manager. Returns their count."""
    n_views = html.count(f'type="{WIDGET_VIEW}"')
    if n_views == 0:
        return 0
    page.wait_for_function(
        "n => document.querySelectorAll('.widget-subarea .jupyter-widgets').length > 0"
        " && document.querySelectorAll('.widget-subarea').length >= n",
        arg=n_views,
        timeout=TIMEOUT_MS,
    )
    empty = page.locator(".widget-subarea:not(:has(.jupyter-widgets))").count()
    assert empty == 0, f"{empty} of {n_views} widget views rendered nothing"
    assert page.locator(".widget-subarea .jupyter-widgets").first.is_visible(), "widgets are not visible"
    try:
        page.wait_for_function(RAW_LABEL_MATH, timeout=TIMEOUT_MS)
    except PlaywrightTimeout:
        pytest.fail("widget labels with $...$ were not typeset (MathJax is only on pages that have math)")
    return n_views


def transferred_bytes(urls: list[str], base: str) -> int:
    """What the local files behind ``urls`` weigh gzip-compressed (level 6), as a static host sends them."""
    import gzip

    total = 0
    for url in set(urls):
        if not url.startswith(base):
            continue
        rel = urlsplit(url).path.removeprefix(urlsplit(base).path)
        path = HTML / rel
        if path.is_file() and not EXPLORER_WEIGHTS.search(rel):
            total += len(gzip.compress(path.read_bytes(), compresslevel=6))
    return total


def look_at_the_page(page) -> None:
    """What a reader sees: undistorted figures, no sideways scrolling, no slider that does nothing."""
    figures = page.evaluate(FIGURE_SHAPES)
    squashed = [f for f in figures if abs(f["shown"] / f["natural"] - 1) > 0.03]
    assert not squashed, f"figures shown at a distorted aspect ratio: {squashed}"
    sideways = page.evaluate(SIDEWAYS)
    assert not sideways, f"boxes that scroll sideways: {sideways}"
    assert page.evaluate(INERT_SLIDERS) == 0, "a static page shows sliders that no script drives"


def resolve_redirect(rel: str) -> str:
    """The page a redirect stub (index.html) forwards to, or ``rel`` itself."""
    match = REDIRECT.search((HTML / rel).read_text(encoding="utf-8"))
    if not match:
        return rel
    return posixpath.normpath(posixpath.join(posixpath.dirname(rel), match.group(1)))


@pytest.mark.parametrize("scheme", ["http", "file"])
@pytest.mark.parametrize("rel", book_pages() or ["index.html"])
def test_page_works_offline(browser, server, rel, scheme):
    """The page loads with no error and no external request; math and widgets render."""
    url = server + rel if scheme == "http" else (HTML / rel).as_uri()
    target = resolve_redirect(rel)
    context = offline_context(browser)  # nothing leaves the machine: the log records every request
    page = context.new_page()
    log = PageLog(page)
    try:
        page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
        page.wait_for_url(f"**/{target}", timeout=TIMEOUT_MS)
        n_math = check_math(page)
        n_views = check_widgets(page, (HTML / target).read_text(encoding="utf-8"))
        page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
        look_at_the_page(page)
        weight = transferred_bytes(log.requests, server) if scheme == "http" else 0
        if scheme == "http" and target == rel:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SHOTS / (rel.removesuffix(".html").replace("/", "__") + ".png"), full_page=True)
    finally:
        context.close()
    external = sorted({u for u in log.requests if not is_local(u)})
    print(f"{scheme} {target}: {len(log.requests)} requests, {len(external)} external, {n_math} math, "
          f"{n_views} views, {weight / 1e6:.2f} MB transferred (gzip)")
    assert not external, f"requests to other hosts: {external}"
    assert not log.problems, "\n".join(log.problems)
    assert weight <= MAX_PAGE_BYTES, f"{target} transfers {weight / 1e6:.2f} MB (gzip), more than 3 MB"


@pytest.mark.parametrize("rel", book_pages() or ["index.html"])
def test_page_reads_well_on_a_phone_and_in_dark_mode(browser, server, rel):
    """At 390 px the page does not scroll sideways; in dark mode figures keep a light background."""
    target = resolve_redirect(rel)
    context = offline_context(browser, 390, 844, dark=True)
    page = context.new_page()
    try:
        page.goto(server + rel, wait_until="load", timeout=TIMEOUT_MS)
        page.wait_for_url(f"**/{target}", timeout=TIMEOUT_MS)
        page.evaluate("() => document.documentElement.setAttribute('data-theme', 'dark')")
        assert page.evaluate(PAGE_OVERFLOW) <= 1, "the page scrolls sideways at 390 px"
        backgrounds = page.evaluate("""() => [...document.querySelectorAll('.cell_output img, figure img')]
            .map(img => getComputedStyle(img).backgroundColor)""")
        assert all(b == "rgb(255, 255, 255)" for b in backgrounds), "figures need a light background in dark mode"
        if target == rel:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SHOTS / ("390-dark__" + rel.removesuffix(".html").replace("/", "__") + ".png"))
    finally:
        context.close()


def open_page(browser, server, rel):
    context = offline_context(browser)
    page = context.new_page()
    page.goto(server + rel, wait_until="load", timeout=TIMEOUT_MS)
    return context, page


def test_exercise_solutions_start_folded_and_open_on_click(browser, server):
    context, page = open_page(browser, server, "notebooks/04_exercises.html")
    try:
        page.wait_for_function("() => document.querySelectorAll('.admonition.dropdown .toggle-button').length > 0")
        folded = page.locator(".admonition.dropdown")
        solutions = folded.filter(has=page.locator(".admonition-title", has_text="Solution"))
        hints = folded.filter(has=page.locator(".admonition-title", has_text="Hint"))
        assert solutions.count() == len(exercises.CHECKERS), "a solution for each function the learner writes"
        assert hints.count() == solutions.count(), "each of them has a hint"
        assert not hints.first.locator("p:not(.admonition-title)").first.is_visible(), "a hint is folded too"
        first = solutions.first
        code = first.locator("div.highlight").first
        assert not code.is_visible(), "a solution must be hidden until the reader asks for it"
        first.locator(".admonition-title").click()
        code.wait_for(state="visible", timeout=TIMEOUT_MS)
        assert "def " in code.inner_text()
    finally:
        context.close()


@pytest.mark.parametrize("rel", [p for p in book_pages() if p.startswith("notebooks/")] or ["notebooks/00_mnist.html"])
def test_every_notebook_page_offers_its_notebook_for_download(browser, server, rel):
    context, page = open_page(browser, server, rel)
    try:
        link = page.locator("a.btn-download-source-button")
        assert link.count() == 1, "the page header has a download-source button"
        href = link.get_attribute("href")
        assert href.endswith(".ipynb"), f"the download is the notebook itself, got {href}"
        assert (HTML / rel).parent.joinpath(href).resolve().is_file(), f"{href} is not in the built site"
    finally:
        context.close()
