"""The in-page GAN latent walk: the exported generator (gengen_lib/export/gan.py) and the page.

The pure-Python tests say what the file holds: the shipped generator with batch norm folded
into the linear layers (the same images, to float16 precision), the latent codes the chapter
draws for seeds 0-31, and nothing a fresh export would change. The browser tests open the built
page ``book/gan_explorer.html`` (``jupyter-book build .`` first), set its controls and compare
the canvas with gengen_lib's generator and paths (``load_generator`` + ``gengen_lib.latent``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from support import HTML, ROOT, SHOTS, TIMEOUT_MS, PageLog, is_local, numpy_array, offline_context, read_digit

from gengen_lib import latent, pretrained
from gengen_lib.export import gan as export_gan
from gengen_lib.export.format import write_document
from gengen_lib.gan import Generator

BOOK_FILE = "generator_gan.js"  # in the folder the exporter writes
PAGE = "book/gan_explorer.html"
BUILT_FILE = HTML / "_static" / "explorer" / "generator_gan.js"
GREY_LEVEL = 2 / 255  # one of 255 grey levels, in the generator's output units [-1, 1]


def randomised_generator(seed: int = 0) -> Generator:
    """A small generator whose batch-norm layers are far from the identity (random statistics and affine)."""
    torch.manual_seed(seed)
    g = Generator(z_dim=6, widths=(8, 16, 12))
    with torch.no_grad():
        for bn in (m for m in g.net if isinstance(m, torch.nn.BatchNorm1d)):
            bn.running_mean.normal_(0, 2)
            bn.running_var.uniform_(0.1, 4)
            bn.weight.normal_(1, 0.5)
            bn.bias.normal_(0, 1)
    return g.eval()


def numpy_generate(doc: dict, z: np.ndarray) -> np.ndarray:
    """x = tanh(W5 h4 + b5), h_i = leaky_relu(W_i h_(i-1) + b_i): the format read as its docstring says, in float64."""
    def array(entry):
        return numpy_array(entry, doc["dtype"])

    h = z
    for i, layer in enumerate(doc["layers"]):
        a = h @ array(layer["weight"]).T + array(layer["bias"])
        h = np.tanh(a) if i == len(doc["layers"]) - 1 else np.where(a > 0, a, doc["negative_slope"] * a)
    return h


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_folding_batch_norm_keeps_the_eval_mode_network(tmp_path, dtype):
    """Export -> read back: the folded network computes what the generator computes in eval mode."""
    g = randomised_generator()
    path = export_gan.export_generator(g, tmp_path / "generator_toy.js", seeds=[5, 9], dtype=dtype)
    folded, doc = export_gan.load_generator(path)
    assert (doc["name"], doc["z_dim"], doc["widths"], doc["pixels"]) == ("toy", 6, [8, 16, 12], 784)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded)
    z = torch.randn(256, 6)
    with torch.no_grad():
        expected = g(z)
        again = folded(z)
    tolerance = 1e-5 if dtype == "float32" else 1e-2
    torch.testing.assert_close(again, expected, atol=tolerance, rtol=0)
    np.testing.assert_allclose(numpy_generate(doc, z.double().numpy()), again.double().numpy(), atol=1e-5)
    assert (again - expected).abs().max() > 0 or dtype == "float32"  # float16 really rounds


def test_export_refuses_what_the_page_cannot_run(tmp_path):
    g = randomised_generator()
    g.net[1] = torch.nn.ReLU()
    with pytest.raises(TypeError, match="ReLU"):
        export_gan.generator_document(g)
    with pytest.raises(ValueError, match="dtype"):
        export_gan.generator_document(randomised_generator(), dtype="int8")
    decoder = {"format": "gengen-vae-decoder", "version": 1, "name": "x"}
    other = write_document(decoder, tmp_path / "x.js", "GENGEN_DECODERS")
    with pytest.raises(ValueError, match="not a gengen-gan-generator file"):
        export_gan.load_generator(other)


def test_the_page_draws_the_shipped_generator_within_one_grey_level(book_weights):
    """The book's file is the chapter's shipped generator: float16 folding moves no pixel by a grey level."""
    folded, doc = export_gan.load_generator(book_weights / BOOK_FILE)
    gan, _ = pretrained.load(doc["info"]["shipped"])
    z = torch.randn(2000, 100, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        worst = (folded(z) - gan.generator(z)).abs().max().item()
    print(f"folded float16 generator vs shipped, 2000 codes: max {worst / GREY_LEVEL:.2f} grey levels")
    assert worst <= GREY_LEVEL
    assert doc["dtype"] == "float16" and (book_weights / BOOK_FILE).stat().st_size < 5e6


def test_the_bank_holds_the_codes_the_chapter_draws(book_weights):
    """Seed s is torch.randn(100) from a torch.Generator seeded with s, as the chapter's figure and widget draw it."""
    _, doc = export_gan.load_generator(book_weights / BOOK_FILE)
    assert doc["seeds"] == list(range(32))
    codes = export_gan.document_codes(doc)
    for s in doc["seeds"]:
        assert torch.equal(codes[s], torch.randn(100, generator=torch.Generator().manual_seed(s))), f"seed {s}"


def test_the_page_walks_the_generator_of_the_chapters_figure(book_weights):
    """02_gan's latent-walk figure uses the setting it glues as best_setting: (a) is gan-plain, (b) gan-regularized."""
    notebook = json.loads((ROOT / "notebooks" / "02_gan.ipynb").read_text(encoding="utf-8"))
    glued = [
        o["data"]["application/papermill.record/text/plain"]
        for cell in notebook["cells"]
        for o in cell.get("outputs", [])
        if o.get("metadata", {}).get("scrapbook", {}).get("name") == "best_setting"
    ]
    assert len(glued) == 1
    _, doc = export_gan.load_generator(book_weights / BOOK_FILE)
    assert doc["info"]["shipped"] == {"'a'": "gan-plain", "'b'": "gan-regularized"}[glued[0]]


# ---------------------------------------------------------------------------------------
# The built page, in headless chromium
# ---------------------------------------------------------------------------------------

ROOT_SELECTOR = '.gengen-explorer[data-generator="gan"]'
SET_T = f"""t => {{ const s = document.querySelector('{ROOT_SELECTOR} input[type=range]'); s.value = String(t);
    s.dispatchEvent(new Event('input')); return Number(s.value); }}"""
WALK = f"() => {{ const w = document.querySelector('{ROOT_SELECTOR}').gengenWalk;"
WALK += " return {a: Array.from(w.a), b: Array.from(w.b), method: w.method, t: w.t}; }"
CANVAS_PNG = "selector => document.querySelector(selector).toDataURL()"
# The strips of new endpoints are generated in slices; the root has data-busy until they are drawn.
SETTLED = f"() => !document.querySelector('{ROOT_SELECTOR}').hasAttribute('data-busy')"
# Pick another seed for A: the big image is drawn in the handler, the strips' work is left in slices.
NEW_ENDPOINT = f"""() => {{ const r = document.querySelector('{ROOT_SELECTOR}'), select = r.querySelector('select');
    select.value = String((Number(select.value) + 1) % 32); select.dispatchEvent(new Event('change'));
    return r.hasAttribute('data-busy'); }}"""
CORNER = "selector => Array.from(document.querySelector(selector).getContext('2d').getImageData(0, 0, 1, 1).data)"


def read_image(page, selector: str = f"{ROOT_SELECTOR} canvas.gx-image", x0: int = 0, scale: int = 8) -> np.ndarray:
    return read_digit(page, selector, x0, scale)


def expected_grey(z: torch.Tensor) -> np.ndarray:
    """Grey levels gengen_lib gives for codes z (N, 100): 255 (1 - (G(z) + 1) / 2), G read from the built file."""
    generator, _ = export_gan.load_generator(BUILT_FILE)
    with torch.no_grad():
        x = generator(z.float())
    return 255.0 * (1.0 - (x.double().numpy() + 1) / 2)


def set_walk(page, seed_a: int, seed_b: int, method: str, t: float) -> float:
    root = page.locator(ROOT_SELECTOR)
    selects = root.locator("select")
    selects.nth(0).select_option(label=f"seed {seed_a}")
    selects.nth(1).select_option(label=f"seed {seed_b}")
    selects.nth(2).select_option(method)
    page.wait_for_function(SETTLED, timeout=TIMEOUT_MS)
    return page.evaluate(SET_T, t)


def open_walk(browser, url: str, **window):
    """(context, page, log) with the walk mounted; requests to other hosts are recorded and aborted.
    ``window``: :func:`offline_context`'s ``width``, ``height`` and ``dark``."""
    context = offline_context(browser, **window)
    page = context.new_page()
    log = PageLog(page)
    page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    page.wait_for_function(f"() => document.querySelector('{ROOT_SELECTOR}[data-mounted] canvas')", timeout=TIMEOUT_MS)
    return context, page, log


def assert_stayed_local(log: PageLog) -> None:
    external = sorted({u for u in log.requests if not is_local(u)})
    assert not external, f"requests to other hosts: {external}"
    assert not log.problems, "\n".join(log.problems)


@pytest.fixture
def walk_page(browser, server, request):
    """The walk page over http or file://, mounted; yields (page, log)."""
    if not (HTML / PAGE).is_file():
        pytest.fail(f"{HTML / PAGE} is missing: add 'book/gan_explorer' to _toc.yml and build the book")
    url = server + PAGE if request.param == "http" else (HTML / PAGE).as_uri()
    context, page, log = open_walk(browser, url)
    yield page, log
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("walk_page", ["http", "file"], indirect=True)
def test_canvas_matches_gengen_lib(walk_page, request):
    """The big canvas is G(z(t)) for gengen_lib's lerp/slerp between the bank's codes, to one grey level;
    the strips are G at t = 0, 1/8, ..., 1 along both paths."""
    page, log = walk_page
    _, doc = export_gan.load_generator(BUILT_FILE)
    codes = export_gan.document_codes(doc)
    paths = {"lerp": latent.lerp, "slerp": latent.slerp}
    worst = 0.0
    for a, b, method, t in [(1, 2, "slerp", 0.5), (1, 2, "lerp", 0.5), (7, 30, "slerp", 0.23), (0, 31, "lerp", 0.9),
                            (3, 4, "slerp", 0.0), (5, 6, "lerp", 1.0)]:  # fmt: skip
        shown_t = set_walk(page, a, b, method, t)
        assert shown_t == pytest.approx(t)
        expected = expected_grey(paths[method](codes[a], codes[b], shown_t)[None])[0]
        worst = max(worst, np.abs(read_image(page) - expected).max())
    frames = torch.linspace(0, 1, 9)
    step = 28 * 2 + 4  # the strip: frames of 28 x 28 blocks of 2 x 2 pixels, 4 pixels apart
    for method, path in paths.items():
        expected = expected_grey(path(codes[5], codes[6], frames))
        for f in range(9):
            shown = read_image(page, f'{ROOT_SELECTOR} .gx-strip[data-path="{method}"] canvas', f * step, 2)
            worst = max(worst, np.abs(shown - expected[f]).max())
    print(f"{request.node.callspec.id}: max |canvas - gengen_lib| = {worst:.2f} grey levels")
    assert worst <= 1.0
    assert_stayed_local(log)
    if "http" in request.node.callspec.id:
        SHOTS.mkdir(parents=True, exist_ok=True)
        set_walk(page, 1, 2, "slerp", 0.5)
        page.locator(ROOT_SELECTOR).screenshot(path=SHOTS / "gan_explorer.png")


@pytest.mark.browser
@pytest.mark.parametrize("walk_page", ["file"], indirect=True)
def test_the_page_walks_gengen_lib_latent_paths(walk_page):
    """The page's lerp and slerp are gengen_lib.latent's, float64 to float64, including the corner cases."""
    page, log = walk_page
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 100, generator=g, dtype=torch.float64)
    small = torch.tensor([3.0, -1.0, 2.0, 0.5, -1.0], dtype=torch.float64)
    pairs = {
        "independent": (z[0], z[1]),
        "different norms": (z[2], 3 * z[3]),
        "antiparallel": (small, -2 * small),
        "parallel": (z[0], 2 * z[0]),
        "first zero": (torch.zeros(100, dtype=torch.float64), z[1]),
        "second zero": (z[2], torch.zeros(100, dtype=torch.float64)),
        "both zero": (torch.zeros(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)),
    }
    js = """([a, b, t, name]) => Array.from(GengenGAN[name](Float64Array.from(a), Float64Array.from(b), t))"""
    for label, (a, b) in pairs.items():
        for t in (0.0, 0.3, 0.5, 1.0):
            for name in ("lerp", "slerp"):
                shown = np.array(page.evaluate(js, [a.tolist(), b.tolist(), t, name]))
                expected = getattr(latent, name)(a, b, t).numpy()
                np.testing.assert_allclose(shown, expected, atol=1e-12, err_msg=f"{name}, {label}, t = {t}")
    assert_stayed_local(log)


@pytest.mark.browser
@pytest.mark.parametrize("walk_page", ["file"], indirect=True)
def test_every_control_changes_the_picture(walk_page):
    """Each seed selector, each draw-new button, the path and t change the image; t also moves the chart's mark.
    A freshly drawn code is a new N(0, I) draw, and the image is G of the path to it."""
    page, log = walk_page
    root = page.locator(ROOT_SELECTOR)
    set_walk(page, 1, 2, "slerp", 0.5)
    chart = f"{ROOT_SELECTOR} .gx-chart canvas"

    def changes(action, what: str) -> None:
        before, chart_before = read_image(page), page.evaluate(CANVAS_PNG, chart)
        action()
        assert np.abs(read_image(page) - before).max() > 20, f"{what} did not change the image"
        if what == "t":
            assert page.evaluate(CANVAS_PNG, chart) != chart_before, "t did not move the chart's mark"

    selects = root.locator("select")
    changes(lambda: selects.nth(0).select_option(label="seed 3"), "seed A")
    changes(lambda: selects.nth(1).select_option(label="seed 4"), "seed B")
    changes(lambda: selects.nth(2).select_option("lerp"), "the path")
    changes(lambda: page.evaluate(SET_T, 0.8), "t")
    assert root.locator("output").text_content() == "0.80"
    drawn = []
    for i, end in enumerate("AB"):
        button = root.get_by_role("button", name=f"draw new {end}")
        changes(button.click, f"draw new {end}")
        assert selects.nth(i).evaluate("s => s.options[s.selectedIndex].text") == "new draw"
        drawn.append(np.array(page.evaluate(WALK)["ab"[i]]))
    walk = page.evaluate(WALK)
    a, b = torch.tensor(walk["a"]), torch.tensor(walk["b"])
    assert walk["method"] == "lerp" and walk["t"] == pytest.approx(0.8)
    assert 7 < a.norm() < 13 and 7 < b.norm() < 13 and not np.allclose(drawn[0], drawn[1])
    np.testing.assert_allclose(read_image(page), expected_grey(latent.lerp(a, b, 0.8)[None])[0], atol=1.0)
    selects.nth(0).select_option(label="seed 3")
    seed_3 = torch.randn(100, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.tensor(page.evaluate(WALK)["a"]).float(), seed_3), "back to the bank's code"
    assert page.evaluate(NEW_ENDPOINT), "a new endpoint's strips must be left to work in slices"
    page.wait_for_function(SETTLED, timeout=TIMEOUT_MS)
    print(f"longest main-thread tasks of the GAN page: {log.long_tasks()[:3]} ms")
    assert_stayed_local(log)


@pytest.mark.browser
def test_the_walk_fits_a_phone_in_dark_mode(browser, server):
    """At 390 px in dark mode: nothing wider than the column, canvases on white, the walk still draws."""
    context, page, log = open_walk(browser, server + PAGE, width=390, height=844, dark=True)
    try:
        page.evaluate("() => document.documentElement.setAttribute('data-theme', 'dark')")
        assert page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth") <= 1
        too_wide = page.evaluate(f"""() => {{
            const column = document.querySelector('.bd-article').getBoundingClientRect().right;
            return [...document.querySelectorAll('{ROOT_SELECTOR}, {ROOT_SELECTOR} *')]
                .filter(e => e.getBoundingClientRect().right > column + 1)
                .map(e => e.tagName + '.' + e.className); }}""")
        assert not too_wide, f"wider than the column at 390 px: {too_wide}"
        backgrounds = page.evaluate(f"""() => [...document.querySelectorAll('{ROOT_SELECTOR} canvas')]
            .map(c => getComputedStyle(c).backgroundColor)""")
        assert len(backgrounds) == 4 and set(backgrounds) == {"rgb(255, 255, 255)"}
        corner = page.evaluate(CORNER, f"{ROOT_SELECTOR} .gx-chart canvas")
        assert corner == [255, 255, 255, 255], "the chart is drawn on white"
        before = read_image(page)
        page.evaluate(SET_T, 0.1)
        assert np.abs(read_image(page) - before).max() > 20
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator(ROOT_SELECTOR).screenshot(path=SHOTS / "390-dark__gan_explorer_walk.png")
    finally:
        context.close()
    assert_stayed_local(log)
