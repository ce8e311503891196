"""The in-page explorers as a reader meets them: weight sizes and the time one control move takes.

    .venv/bin/python bench/explorers.py [BUILD_DIR]     # default: _build (run `make book` first)

Opens each explorer page of the built book in headless Chromium (over a local http server),
moves one control of each explorer 21 times and prints the median time of the redraw it causes
(performance.now in the page: the handler's own work for the VAE and GAN explorers, which
redraw synchronously; the drawing of the scheduled frame, data-draw-ms, for the flows).
Also the size of each weight file, the MNIST flow's load and decode times, and the longest
main-thread task of each page (PerformanceObserver 'longtask', from the page's start through its
background work, every control move and, on the flow page, loading the MNIST flow): a reader
feels any task over about 200 ms as a frozen page. The figures are recorded in bench/RESULTS.md
between the ``explorers`` markers.
"""

from __future__ import annotations

import datetime
import functools
import http.server
import statistics
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM, CHROMIUM_ARGS, OBSERVE_LONG_TASKS, QuietHandler  # noqa: E402

BEGIN, END = "<!-- explorers -->", "<!-- /explorers -->"
MOVES = 21

# One move of a control, timed in the page: set it, fire `input`, wait until the explorer has drawn.
# Explorers that schedule their drawing count it in data-draws; the others draw inside the handler.
TIME_MOVES = """async ([root, control, values]) => {
    const r = document.querySelector(root), input = r.querySelector(control), times = [];
    for (const value of values) {
        const before = r.getAttribute('data-draws'), start = performance.now();
        input.value = String(value);
        input.dispatchEvent(new Event('input'));
        input.dispatchEvent(new Event('change'));
        if (before === null) {  // drawn in the handler; work left in slices sets data-busy until it is done
            while (r.hasAttribute('data-busy')) await new Promise(requestAnimationFrame);
            times.push(performance.now() - start);
            continue;
        }
        while (r.getAttribute('data-draws') === before) await new Promise(requestAnimationFrame);
        times.push(Number(r.getAttribute('data-draw-ms')));  // the drawing itself, not the wait for a frame
    }
    return times; }"""

# (page, explorer root, control, values it takes, what a move redraws)
CASES = [
    ("book/explorer.html", '[data-decoder="z2"]', "input[type=range]", (-2, 2), "VAE z=2: one digit"),
    ("book/explorer.html", '[data-decoder="z20"]', "input[type=range]", (-2, 2), "VAE z=20: one digit"),
    ("book/gan_explorer.html", '[data-generator="gan"]', "input[type=range]", (0, 1), "GAN: G(z(t)) at a new t"),
    ("book/gan_explorer.html", '[data-generator="gan"]', "select", None, "GAN: new endpoint A (18 strip frames)"),
    ("book/flow_explorer.html", '[data-flow="moons"]', '[data-role="x1"]', (-1.5, 1.5), "two moons: point moved"),
    ("book/flow_explorer.html", '[data-flow="moons"]', '[data-role="stage"]', (0, 8), "two moons: coupling stage"),
    ("book/flow_explorer.html", '[data-flow="mnist"]', '[data-role="temperature"]', (0.3, 1.2),
     "MNIST flow: 16 samples at a new T"),
]  # fmt: skip
WEIGHTS = {
    "book/explorer.html": ["decoder_z2.js", "decoder_z20.js"],
    "book/gan_explorer.html": ["generator_gan.js"],
    "book/flow_explorer.html": ["flow_moons.js", "flow_mnist.js"],
}


# The explorers' work after load is done: no slices left, and the two-moons density at its finest.
SETTLED = """() => !document.querySelector('.gengen-explorer[data-busy]') &&
    [...document.querySelectorAll('.gengen-explorer[data-flow="moons"]')].every(r => r.dataset.densityGrid === '96')"""


def longest_task_row(rel: str, page) -> str:
    tasks = page.evaluate("() => window.__longtasks")
    longest = max(tasks, default=0.0)
    over = sum(t > 200 for t in tasks)
    return f"| longest main-thread task, {rel.removeprefix('book/')} | {longest:.0f} ms ({over} over 200 ms) |"


def serve(html: Path) -> str:
    handler = functools.partial(QuietHandler, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/"


def values_for(page, root: str, control: str, span) -> list:
    if span is None:  # a select: walk through its options
        options = page.evaluate(f"() => [...document.querySelector('.gengen-explorer{root} {control}').options]"
                                ".map(o => o.value)")  # fmt: skip
        return [options[i % len(options)] for i in range(1, MOVES + 1)]
    lo, hi = span
    return [round(lo + (hi - lo) * i / (MOVES - 1), 3) for i in range(MOVES)]


def measure(html: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    base, rows = serve(html), []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        pages = {}
        for rel, root, control, span, what in CASES:
            if rel not in pages:
                pages[rel] = page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.add_init_script(OBSERVE_LONG_TASKS)
                page.goto(base + rel, wait_until="load", timeout=120_000)
                page.wait_for_selector(".gengen-explorer[data-mounted]", timeout=120_000)
                page.wait_for_function(SETTLED, timeout=120_000)
            page = pages[rel]
            if "mnist" in root and not page.locator(f".gengen-explorer{root}[data-loaded]").count():
                page.get_by_role("button", name="load the flow").click()
                page.wait_for_selector(f".gengen-explorer{root}[data-loaded]", timeout=120_000)
                loaded = page.locator(f".gengen-explorer{root}")
                rows.append(f"| MNIST flow weights: script load / decode | {loaded.get_attribute('data-load-ms')} ms"
                            f" / {loaded.get_attribute('data-decode-ms')} ms |")  # fmt: skip
            times = page.evaluate(TIME_MOVES, [f".gengen-explorer{root}", control,
                                               values_for(page, root, control, span)])  # fmt: skip
            rows.append(f"| {what} | {statistics.median(times):.1f} ms (max {max(times):.1f}) |")
        rows += [longest_task_row(rel, page) for rel, page in pages.items()]
        browser.close()
    return rows


def main() -> int:
    build = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build"
    html = build / "html"
    if not (html / "book" / "explorer.html").is_file():
        print(f"error: no built book under {html}; run `make book` first", file=sys.stderr)
        return 1
    sizes = [
        f"| {rel.removeprefix('book/').removesuffix('.html')}: {name} | "
        f"{(html / '_static' / 'explorer' / name).stat().st_size / 1e6:.2f} MB |"
        for rel, names in WEIGHTS.items()
        for name in names
    ]
    rows = measure(html)
    table = "\n".join(["| weight file | size |", "|---|---|", *sizes, "", "| one control move | median redraw |",
                       "|---|---|", *rows])  # fmt: skip
    print(table)
    results = ROOT / "bench" / "RESULTS.md"
    text = results.read_text(encoding="utf-8")
    stamp = f"Measured {datetime.date.today()} in headless Chromium, {MOVES} moves each."
    block = f"{BEGIN}\n{stamp}\n\n{table}\n{END}"
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n## In-page explorers (bench/explorers.py)\n\n" + block + "\n"
    results.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
