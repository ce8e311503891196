"""What every reader gets from the built book: WCAG 2.1 AA, described and legible figures, tables
that fit a phone, math a screen reader can read, explorer controls reachable by keyboard.

axe-core (``scripts/vendor_js.sh`` puts it in ``.vendor/axe-core/``; ``GENGEN_AXE_JS`` may point
at another copy) is injected into each page and must report no violation of the WCAG 2.0/2.1
A and AA rules, nor of the 2.2 target-size rule, in light and dark mode, wide and narrow.
Each test prints what it measured (smallest figure text, table sizes) so that a run doubles
as the review the issue asks for.

Needs the built book and Debian's chromium, as ``tests/test_browser.py`` does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from support import ROOT, TIMEOUT_MS, offline_context
from test_browser import book_pages, resolve_redirect

pytestmark = pytest.mark.browser

AXE_JS = Path(os.environ.get("GENGEN_AXE_JS") or ROOT / ".vendor" / "axe-core" / "axe.min.js")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]  # 2.2 AA adds target-size (24 px)
RUN_AXE = """async tags => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return result.violations.map(v => ({id: v.id, help: v.help,
                                        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
}"""
WIDE, PHONE = 1280, 390
SMALLEST_TEXT_PX = 11  # the smallest figure text a reader should have to read, on any screen
MIN_CELL_PX = 64  # narrower, a table cell wraps a word per line (the corrections table had 32 px)
FIGURES = """() => [...document.querySelectorAll('.bd-article img')]
    .filter(img => img.getBoundingClientRect().width > 0)
    .map(img => ({file: img.getAttribute('src').split('/').pop(), alt: img.getAttribute('alt') || '',
                  shown: img.getBoundingClientRect().width}))"""
TABLES = """() => { const column = document.querySelector('.bd-article').getBoundingClientRect();
    return [...document.querySelectorAll('.bd-article table')].filter(t => t.getBoundingClientRect().width > 0)
      .map(t => { const r = t.getBoundingClientRect();
        const cells = [...t.querySelectorAll('td, th')].filter(c => c.getBoundingClientRect().width > 0
                                                                     && c.textContent.trim());
        return {text: t.textContent.trim().slice(0, 40), right: r.right - column.right, height: r.height,
                overflow: t.scrollWidth - t.clientWidth,
                narrowest: Math.min(...cells.map(c => c.getBoundingClientRect().width))}; }); }"""
MATH = """() => { const all = [...document.querySelectorAll('mjx-container')];
    return {count: all.length, withoutMathml: all.filter(m => !m.querySelector('mjx-assistive-mml math')).length}; }"""
CONTROLS = """() => [...document.querySelectorAll('[data-live-explorer] :is(input, button, select, textarea)')]
    .filter(e => e.type !== 'hidden' && e.getBoundingClientRect().width > 0)
    .map((e, i) => { e.dataset.gengenControl = i; const r = e.getBoundingClientRect();
        const labels = e.labels ? [...e.labels].map(l => l.textContent.trim()).join(' ') : '';
        const name = (e.getAttribute('aria-label') || labels || e.title || e.textContent || '').trim();
        return {index: i, kind: e.type || e.tagName, name, width: r.width, height: r.height,
                tabbable: e.tabIndex >= 0 && !e.disabled}; })"""
FOCUSED_CONTROL = "() => document.activeElement && document.activeElement.dataset.gengenControl"


def open_page(browser, server, rel, width=WIDE, mode="light"):
    """The page at ``rel`` in ``mode`` (light or dark), ``width`` px wide, loaded and settled."""
    context = offline_context(browser, width, dark=mode == "dark")
    page = context.new_page()
    page.goto(server + rel, wait_until="load", timeout=4 * TIMEOUT_MS)
    page.wait_for_url(f"**/{resolve_redirect(rel)}", timeout=TIMEOUT_MS)
    page.evaluate(f"() => document.documentElement.setAttribute('data-theme', '{mode}')")
    if page.locator(".math").count():  # what is checked waits for MathJax, not for every request to settle
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=4 * TIMEOUT_MS)
        page.evaluate("() => MathJax.startup.promise")
    return context, page


def figure_metadata() -> dict[str, dict]:
    """{image file name as the book writes it (sha256 of the bytes + .png): output metadata} from the notebooks."""
    found = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for output in cell.get("outputs", []):
                for mime, data in output.get("data", {}).items():
                    kind = mime.rsplit("/", 1)[-1]  # also a glued figure's application/papermill.record/image/png
                    if kind in ("png", "svg+xml"):
                        metadata = output.get("metadata", {}).get(f"image/{kind}", {})
                        found[image_name(data, kind)] = metadata
                        if "gengen_phone" in metadata:  # the phone layout of the same figure
                            found[image_name(metadata["gengen_phone"]["data"], kind)] = metadata["gengen_phone"]
    return found


def image_name(data: str | list[str], kind: str) -> str:
    """The file name the book gives an image output, as myst-nb makes it: the sha256 of the PNG's bytes
    (``data`` in base64) or of the SVG's text with the platform's line ends, then .png or .svg."""
    data = "".join(data) if isinstance(data, list) else data
    if kind == "png":
        return hashlib.sha256(base64.b64decode(data)).hexdigest() + ".png"
    return hashlib.sha256(os.linesep.join(data.splitlines()).encode("utf-8")).hexdigest() + ".svg"


PAGES = [p for p in book_pages() if resolve_redirect(p) == p] or ["book/intro.html"]


@pytest.fixture(scope="module")
def axe_js() -> str:
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run scripts/vendor_js.sh")
    return AXE_JS.read_text(encoding="utf-8")


@pytest.mark.parametrize(("width", "mode"), [(WIDE, "light"), (WIDE, "dark"), (PHONE, "dark")])
@pytest.mark.parametrize("rel", PAGES)
def test_axe_finds_no_wcag_violation(browser, server, axe_js, rel, width, mode):
    context, page = open_page(browser, server, rel, width, mode)
    try:
        page.add_script_tag(content=axe_js)
        violations = page.evaluate(RUN_AXE, AXE_TAGS)
    finally:
        context.close()
    print(f"{rel} {width} px {mode}: {len(violations)} axe violations")
    assert not violations, "\n".join(f"{v['id']} ({v['help']}): {v['nodes']}" for v in violations)


@pytest.mark.parametrize("rel", PAGES)
def test_every_figure_is_described_and_its_text_legible(browser, server, rel):
    """Each image has a written description as alt text; figure text shows at 11 px or more at 1280 and 390 px.

    On a phone a figure drawn for the wide column would shrink its text to about 6 px, so the page shows
    its phone layout there (``gengen_lib.legibility``), whose text keeps its size.
    """
    metadata = figure_metadata()
    sizes, undescribed = {}, []
    for width in (WIDE, PHONE):
        context, page = open_page(browser, server, rel, width)
        try:
            figures = page.evaluate(FIGURES)
        finally:
            context.close()
        for figure in figures:
            alt = figure["alt"].strip()
            if width == WIDE and (len(alt) < 20 or alt.endswith((".png", ".svg")) or "/" in alt.split()[0]):
                undescribed.append(figure["file"])
            fraction = metadata.get(figure["file"], {}).get("gengen_smallest_text")
            if fraction is not None:
                sizes.setdefault(width, []).append(fraction * figure["shown"])
    smallest = {w: min(s) for w, s in sizes.items()}
    print(f"{rel}: smallest figure text " + ", ".join(f"{s:.1f} px at {w} px" for w, s in smallest.items()))
    assert not undescribed, f"images whose alt text is not a description: {undescribed}"
    for width, size in smallest.items():
        assert size >= SMALLEST_TEXT_PX, f"figure text of {size:.1f} px at {width} px"


@pytest.mark.parametrize("rel", PAGES)
def test_every_table_fits_a_phone_column_with_readable_cells(browser, server, rel):
    context, page = open_page(browser, server, rel, PHONE)
    try:
        tables = page.evaluate(TABLES)
    finally:
        context.close()
    for t in tables:
        print(f"{rel} at {PHONE} px: table '{t['text']}' {t['height']:.0f} px tall, "
              f"narrowest cell {t['narrowest']:.0f} px")
    assert all(t["right"] <= 1 and t["overflow"] <= 1 for t in tables), f"tables wider than the column: {tables}"
    assert all(t["narrowest"] >= MIN_CELL_PX for t in tables), f"cells squeezed below {MIN_CELL_PX} px: {tables}"


@pytest.mark.parametrize("rel", PAGES)
def test_math_carries_mathml_for_screen_readers(browser, server, rel):
    context, page = open_page(browser, server, rel)
    try:
        math = page.evaluate(MATH)
    finally:
        context.close()
    assert math["withoutMathml"] == 0, f"{math['withoutMathml']} of {math['count']} formulas lack assistive MathML"


@pytest.mark.parametrize("rel", [p for p in PAGES if p.endswith("explorer.html")] or ["book/explorer.html"])
def test_explorer_controls_are_labelled_keyboard_reachable_and_big_enough(browser, server, rel):
    context, page = open_page(browser, server, rel)
    try:
        page.wait_for_function("() => document.querySelector('[data-live-explorer] :is(input, button)')",
                               timeout=4 * TIMEOUT_MS)
        controls = page.evaluate(CONTROLS)
        reached = set()
        page.locator("body").focus()
        for _ in range(len(controls) + 120):  # the theme's links and buttons come first
            page.keyboard.press("Tab")
            index = page.evaluate(FOCUSED_CONTROL)
            if index is not None:
                reached.add(int(index))
            if len(reached) == len(controls):
                break
    finally:
        context.close()
    assert controls, "the explorer shows controls"
    unnamed = [c for c in controls if not c["name"]]
    small = [c for c in controls if min(c["width"], c["height"]) < 24]
    unreached = [c for c in controls if c["index"] not in reached]
    print(f"{rel}: {len(controls)} controls, {len(unnamed)} unnamed, {len(small)} under 24 px, "
          f"{len(unreached)} unreached")
    assert not unnamed, f"controls without a name: {unnamed}"
    assert not small, f"controls smaller than 24 x 24 px: {small}"
    assert not unreached, f"controls the Tab key never reaches: {unreached}"
