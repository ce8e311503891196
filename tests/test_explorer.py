"""The in-page latent explorer: exported decoder weights (gengen_lib/export/vae.py) and the page.

The pure-Python tests read the exported format as its documentation describes it (base64 of
little-endian arrays) with their own NumPy forward pass, and compare with ``model.decode``.
The browser tests open the built page ``book/explorer.html`` (``jupyter-book build .`` first),
move its sliders and compare the canvas pixels with gengen_lib's decoder for the same code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import HTML, SHOTS, TIMEOUT_MS, PageLog, numpy_array, numpy_document, offline_context, read_digit

from gengen_lib.export import format as weight_format
from gengen_lib.export import vae as export
from gengen_lib.vae import VAE

PAGE = "book/explorer.html"
BUILT = HTML / "_static" / "explorer"
MAX_PIXEL_DIFF = 2  # grey levels, 0..255


def numpy_decode(doc: dict, z: np.ndarray) -> np.ndarray:
    """Pixel means sigmoid(W2 relu(W1 z + b1) + b2) for codes z (N, z_dim)."""
    (l1, l2), dtype = doc["layers"], doc["dtype"]
    h = np.maximum(z @ numpy_array(l1["weight"], dtype).T + numpy_array(l1["bias"], dtype), 0.0)
    return 1.0 / (1.0 + np.exp(-(h @ numpy_array(l2["weight"], dtype).T + numpy_array(l2["bias"], dtype))))


@pytest.mark.parametrize("suffix", [".json", ".js"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_export_round_trip(tmp_path, suffix, dtype):
    """Random weights -> export -> read back: the same decoder, within the dtype's precision."""
    model = VAE(z_dim=3, hidden=40).eval()
    origin, directions = torch.randn(3), torch.randn(2, 3)
    path = export.export_decoder(
        model, tmp_path / f"dec{suffix}", origin=origin, directions=directions, names=["a", "b"], dtype=dtype
    )
    z = torch.randn(64, 3)
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(z)).numpy()

    doc = numpy_document(path, "GENGEN_DECODERS")
    assert (doc["name"], doc["z_dim"], doc["hidden"], doc["pixels"], doc["dtype"]) == ("dec", 3, 40, 784, dtype)
    assert doc["names"] == ["a", "b"] and doc["limit"] == 3.0
    np.testing.assert_array_equal(numpy_array(doc["origin"], "float32"), origin.numpy())
    np.testing.assert_array_equal(numpy_array(doc["directions"], "float32"), directions.numpy())
    tolerance = 1e-6 if dtype == "float32" else 2e-3
    np.testing.assert_allclose(numpy_decode(doc, z.numpy().astype(np.float64)), expected, atol=tolerance)

    loaded, doc2 = export.load_decoder(path)
    assert doc2 == doc
    with torch.no_grad():
        again = torch.sigmoid(loaded.decode(z)).numpy()
    if dtype == "float32":
        np.testing.assert_array_equal(again, expected)  # the very same float32 weights
    else:
        np.testing.assert_allclose(again, expected, atol=tolerance)
    values = torch.tensor([0.5, -2.0])
    torch.testing.assert_close(export.slider_latent(doc, values), origin + values @ directions)


def test_export_rejects_bad_input(tmp_path):
    model = VAE(z_dim=2, hidden=8)
    with pytest.raises(ValueError, match=".json or .js"):
        export.export_decoder(model, tmp_path / "dec.bin")
    with pytest.raises(ValueError, match="dtype"):
        export.export_decoder(model, tmp_path / "dec.json", dtype="int8")
    with pytest.raises(ValueError, match="directions"):
        export.export_decoder(model, tmp_path / "dec.json", directions=torch.eye(3))
    (tmp_path / "other.js").write_text("var x = 1;\n")
    with pytest.raises(ValueError, match="not an explorer script"):
        weight_format.read_document(tmp_path / "other.js", export.FORMAT, export.VERSION)


def test_the_book_exports_the_shipped_decoders_exactly(book_weights):
    """The explorer draws the shipped VAEs: its float16 weights equal the shipped ones bit for bit."""
    from gengen_lib import pretrained

    for name in ("z2", "z20"):
        model, _ = pretrained.load(f"vae-{name}")
        exported, _ = export.load_decoder(book_weights / f"decoder_{name}.js")
        for key, value in model.decoder.state_dict().items():
            assert torch.equal(exported.decoder.state_dict()[key], value), f"{name}: {key} differs"


@pytest.mark.parametrize(("name", "z_dim", "sliders"), [("z2", 2, 2), ("z20", 20, 5)])
def test_the_books_decoders(book_weights, name, z_dim, sliders):
    """The book's exported decoders: the right shapes, a few MB, finite weights."""
    path = book_weights / f"decoder_{name}.js"
    assert path.stat().st_size < 3e6
    doc = numpy_document(path, "GENGEN_DECODERS")
    assert (doc["name"], doc["z_dim"], doc["hidden"], doc["pixels"]) == (name, z_dim, 500, 784)
    assert len(doc["names"]) == sliders == doc["directions"]["shape"][0]
    p = numpy_decode(doc, np.zeros((1, z_dim)))
    assert np.isfinite(p).all() and 0.0 <= p.min() and p.max() <= 1.0


# ---------------------------------------------------------------------------------------
# The built page, in headless chromium
# ---------------------------------------------------------------------------------------

SET_SLIDERS = """([name, values]) => {
    const inputs = document.querySelectorAll(`.gengen-explorer[data-decoder="${name}"] input[type=range]`);
    values.forEach((v, i) => { inputs[i].value = String(v); inputs[i].dispatchEvent(new Event('input')); });
    return [...inputs].map(inp => Number(inp.value));
}"""


def expected_pixels(name: str, values) -> np.ndarray:
    """Grey levels gengen_lib's decoder gives for the page's slider values: 255 (1 - p)."""
    model, doc = export.load_decoder(BUILT / f"decoder_{name}.js")
    with torch.no_grad():
        p = torch.sigmoid(model.decode(export.slider_latent(doc, values)[None]))[0]
    return 255.0 * (1.0 - p.double().numpy())


def read_canvas(page, name: str) -> np.ndarray:
    canvas = f'.gengen-explorer[data-decoder="{name}"] canvas'
    assert page.evaluate(f"() => document.querySelector('{canvas}').width") == 28 * 8
    return read_digit(page, canvas)


@pytest.fixture
def explorer_page(browser, server, request):
    """The explorer page, loaded (over http or file://) with both explorers drawn; yields (page, log)."""
    if not (HTML / PAGE).is_file():
        pytest.fail(f"{HTML / PAGE} is missing: add 'book/explorer' to _toc.yml and build the book")
    url = server + PAGE if request.param == "http" else (HTML / PAGE).as_uri()
    context = offline_context(browser)
    page = context.new_page()
    log = PageLog(page)
    page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelectorAll('.gengen-explorer[data-mounted] canvas').length === 2", timeout=TIMEOUT_MS
    )
    yield page, log
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("explorer_page", ["http", "file"], indirect=True)
def test_canvas_matches_python_decoder(explorer_page, request):
    """The canvas shows gengen_lib's decoded means for the sliders' code, to 2 grey levels."""
    page, log = explorer_page
    worst = {}
    cases = [("z2", [0, 0]), ("z20", [0] * 5), ("z20", [2.0, 0, -1.5, 0, 0.65]), ("z2", [1.3, -0.75])]
    cases.append(("z20", [1.5, -1.5, 0, 1.5, 0]))  # a clean digit for the screenshot
    for name, values in cases:
        actual_values = page.evaluate(SET_SLIDERS, [name, values])
        np.testing.assert_allclose(actual_values, values)
        diff = np.abs(read_canvas(page, name) - expected_pixels(name, actual_values)).max()
        worst[name] = max(worst.get(name, 0.0), diff)
    print(f"{request.node.callspec.id}: max |canvas - 255 (1 - sigmoid(decode(z)))| = {worst}")
    assert max(worst.values()) <= MAX_PIXEL_DIFF, worst
    assert not log.problems, "\n".join(log.problems)
    if "http" in request.node.callspec.id:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator(".gengen-explorer-row").screenshot(path=SHOTS / "explorer.png")


@pytest.mark.browser
@pytest.mark.parametrize("explorer_page", ["file"], indirect=True)
def test_sliders_move_the_digit(explorer_page):
    """Keyboard steps on a slider change its value, its readout and the drawing; reset restores it."""
    page, log = explorer_page
    for name in ("z2", "z20"):
        root = page.locator(f'.gengen-explorer[data-decoder="{name}"]')
        before = read_canvas(page, name)
        slider = root.locator("input[type=range]").first
        slider.focus()
        for _ in range(20):  # 20 steps of 0.05
            page.keyboard.press("ArrowRight")
        assert float(slider.input_value()) == pytest.approx(1.0)
        assert root.locator("output").first.text_content() == "+1.00"
        moved = read_canvas(page, name)
        assert np.abs(moved - before).max() > 20, f"{name}: the digit barely changed"
        root.get_by_role("button", name="reset to 0").click()
        assert float(slider.input_value()) == 0.0
        np.testing.assert_array_equal(read_canvas(page, name), before)
    assert page.locator('.gengen-explorer[data-decoder="z2"] .gx-z').text_content() == "z = (0.00, 0.00)"
    print(f"longest main-thread tasks of the VAE page: {log.long_tasks()[:3]} ms")
    assert not log.problems, "\n".join(log.problems)


@pytest.mark.browser
@pytest.mark.parametrize("explorer_page", ["http"], indirect=True)
def test_every_slider_changes_the_digit(explorer_page):
    """No slider of either explorer is dead: each one alone, pushed to its end, redraws the digit."""
    page, log = explorer_page
    for name, sliders in (("z2", 2), ("z20", 5)):
        assert page.locator(f'.gengen-explorer[data-decoder="{name}"] input[type=range]').count() == sliders
        origin = read_canvas(page, name)
        for i in range(sliders):
            values = [0.0] * sliders
            values[i] = 2.0
            page.evaluate(SET_SLIDERS, [name, values])
            assert np.abs(read_canvas(page, name) - origin).max() > 20, f"{name}: slider {i + 1} barely moves the digit"
        page.evaluate(SET_SLIDERS, [name, [0.0] * sliders])
    assert not log.problems, "\n".join(log.problems)
