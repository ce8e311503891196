"""The in-page flow explorer: exported RealNVP weights (gengen_lib/export/flow.py) and the page.

The pure-Python tests read the exported format as its documentation describes it (couplings
with kept and free coordinates, base64 arrays) with their own NumPy forward pass, and check
that the committed files are the chapter's two-moons flow and the shipped MNIST flow. The
browser tests open the built page ``book/flow_explorer.html`` (``jupyter-book build .``
first), evaluate the page's flows against gengen_lib's, compare the drawn MNIST samples with
the library's inverse flow, and move every control.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from support import (
    CANVASES,
    HTML,
    READ_TILES,
    ROOT,
    SHOTS,
    TIMEOUT_MS,
    assert_canvases_fit_the_column_on_white,
    assert_trained_like_the_shipped,
    is_local,
    numpy_array,
    numpy_document,
    open_explorer_page,
    randomized,
)

from gengen_lib import flows, pretrained, toy
from gengen_lib.densities import standard_normal_log_prob
from gengen_lib.export import flow as export_flow
from gengen_lib.export.format import extra_array, write_document
from gengen_lib.flows import RealNVP

PAGE = "book/flow_explorer.html"
BUILT = HTML / "_static" / "explorer"
MAX_WEIGHT_BYTES = 35e6


def numpy_forward(doc: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z = f(x) and log|det df/dx| for rows x (N, dim), from the format's description alone."""
    dtype = doc["dtype"]

    def mlp(layers, h):
        (w1, b1), (w2, b2) = [(numpy_array(e["weight"], dtype), numpy_array(e["bias"], dtype)) for e in layers]
        return np.maximum(h @ w1.T + b1, 0) @ w2.T + b2

    z, log_det = x.astype(np.float64).copy(), np.zeros(len(x))
    if doc["logit_alpha"] is not None:
        a = doc["logit_alpha"]
        p = a + (1 - 2 * a) * z
        z = np.log(p) - np.log1p(-p)
        log_det += z.shape[1] * np.log(1 - 2 * a) - (np.log(p) + np.log1p(-p)).sum(1)
    for c in doc["couplings"]:
        h = np.maximum(mlp(c["trunk"], z[:, c["kept"]]), 0)
        t = mlp(c["t_head"], h)
        s = np.zeros_like(t)
        if doc["learned_scale"]:
            s = numpy_array(c["s_scale"], dtype) * np.tanh(mlp(c["s_head"], h))
        z[:, c["free"]] = z[:, c["free"]] * np.exp(s) + t
        log_det += s.sum(1)
    return z, log_det


def random_flow(learned_scale: bool, logit: bool, float16: bool) -> RealNVP:
    """A small flow whose every weight is non-zero (a fresh RealNVP starts as the identity)."""
    model = RealNVP(
        n_pairs=2, hidden=12, learned_scale=learned_scale, dim=6, logit_alpha=1e-3 if logit else None, image_shape=None
    )
    return randomized(model, 0.4, float16)


@pytest.mark.parametrize("suffix", [".json", ".js"])
@pytest.mark.parametrize(
    ("learned_scale", "logit", "dtype"),
    [(True, False, "float32"), (False, False, "float32"), (True, True, "float16"), (False, True, "float16")],
)
def test_export_round_trip(tmp_path, suffix, learned_scale, logit, dtype):
    """Export -> read back: the document computes the model's forward pass, and load_flow gives
    back the same flow (same log_prob, same inverse) bit for bit."""
    model = random_flow(learned_scale, logit, float16=dtype == "float16")
    noise = torch.randn(5, 6)
    path = export_flow.export_flow(model, tmp_path / f"toy{suffix}", dtype=dtype, extras={"noise": noise})
    x = torch.rand(32, 6) if logit else torch.randn(32, 6)
    with torch.no_grad():
        z, log_det = model(x)

    doc = numpy_document(path, "GENGEN_FLOWS")
    assert (doc["name"], doc["dim"], doc["hidden"], doc["dtype"]) == ("toy", 6, 12, dtype)
    assert len(doc["couplings"]) == 4 and ("s_head" in doc["couplings"][0]) == learned_scale
    assert [c["kept"] for c in doc["couplings"]] == [[0, 2, 4], [1, 3, 5]] * 2
    np_z, np_log_det = numpy_forward(doc, x.numpy())
    np.testing.assert_allclose(np_z, z.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np_log_det, log_det.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(numpy_array(doc["extras"]["noise"], "float32"), noise.numpy())

    loaded, doc2 = export_flow.load_flow(path)
    assert doc2 == doc
    with torch.no_grad():
        assert torch.equal(loaded.log_prob(x), model.log_prob(x))
        assert torch.equal(loaded.inverse(z), model.inverse(z))
    assert torch.equal(extra_array(doc2, "noise"), noise)


def test_load_flow_rejects_other_files(tmp_path):
    model = random_flow(True, False, False)
    path = export_flow.export_flow(model, tmp_path / "toy.json")
    doc = json.loads(path.read_text())
    write_document({**doc, "couplings": doc["couplings"][:3]}, tmp_path / "odd.json", export_flow.REGISTRY)
    with pytest.raises(ValueError, match="pairs of couplings"):
        export_flow.load_flow(tmp_path / "odd.json")
    swapped = [doc["couplings"][1], doc["couplings"][0]] + doc["couplings"][2:]
    write_document({**doc, "couplings": swapped}, tmp_path / "swapped.json", export_flow.REGISTRY)
    with pytest.raises(ValueError, match="kept and free"):
        export_flow.load_flow(tmp_path / "swapped.json")
    decoder = write_document({"format": "gengen-vae-decoder", "version": 1, "name": "z2"}, tmp_path / "z2.js", "D")
    with pytest.raises(ValueError, match="not a gengen-flow file"):
        export_flow.load_flow(decoder)
    with pytest.raises(ValueError, match="dtype"):
        export_flow.export_flow(model, tmp_path / "toy.js", dtype="int8")


def test_the_book_shows_the_chapters_two_moons_flow(book_weights):
    """flow_moons.js holds the chapter's two-moons flow (the shipped weights/flow-moons) bit for bit,
    and the first 1,000 of the points it was trained on."""
    settings = toy.ToyFlowSettings()  # the flow chapter's, in full mode
    model, history = pretrained.load(pretrained.shipped_name(settings))
    points = settings.training_points()
    exported, doc = export_flow.load_flow(book_weights / "flow_moons.js")
    for key, value in model.state_dict().items():
        assert torch.equal(exported.state_dict()[key], value), f"flow_moons.js: {key} differs"
    assert torch.equal(extra_array(doc, "points"), points[: export_flow.MOONS_SHOWN])
    assert doc["info"]["nll"] == history.epochs[-1]["nll"]
    assert (doc["dtype"], doc["dim"], doc["logit_alpha"], len(doc["couplings"])) == ("float16", 2, None, 8)


def test_the_chapter_loads_the_shipped_two_moons_flow_in_full_mode_only():
    assert pretrained.shipped_name(toy.ToyFlowSettings()) == "flow-moons"
    assert pretrained.shipped_name(toy.ToyFlowSettings.quick()) is None, "quick mode trains its own"


@pytest.mark.slow
def test_the_shipped_two_moons_flow_is_what_its_command_trains(tmp_path):
    """weights/flow-moons is the flow `python -m gengen_lib train toy-flow` trains (30 epochs on one thread: a
    minute on a quiet machine; tiny matrices train far slower on two busy threads), on any kind of CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trained, history = toy.load_or_train_toy_flow(toy.ToyFlowSettings(), out_dir=tmp_path / "run")
    finally:
        torch.set_num_threads(threads)
    _, shipped_history = pretrained.load("flow-moons")
    held_out = toy.FAMILY.measure(trained, toy.ToyFlowSettings(), None)["valid_nll"]
    recorded = pretrained.manifest()["flow-moons"]["metrics"]["valid_nll"]
    assert_trained_like_the_shipped(history, shipped_history, "nll", held_out, recorded)


def test_the_book_shows_the_shipped_mnist_flow(book_weights):
    """flow_mnist.js holds the shipped learned-scale flow bit for bit (float16) and the chapter's noise."""
    path = book_weights / "flow_mnist.js"
    model, _ = pretrained.load(export_flow.MNIST_FLOW)
    exported, doc = export_flow.load_flow(path)
    for key, value in model.state_dict().items():
        assert torch.equal(exported.state_dict()[key], value), f"flow_mnist.js: {key} differs"
    assert torch.equal(extra_array(doc, "noise"), flows.chapter_noise())
    assert doc["dtype"] == "float16" and path.stat().st_size < MAX_WEIGHT_BYTES
    # The page announces the download's size before loading it: the size it states is the file's.
    page = (ROOT / "book" / "flow_explorer.md").read_text(encoding="utf-8")
    stated = float(re.search(r'data-megabytes="([\d.]+)"', page).group(1))
    assert stated == round(path.stat().st_size / 1e6, 1)


# ---------------------------------------------------------------------------------------
# The built page, in headless chromium
# ---------------------------------------------------------------------------------------

MOONS = '.gengen-explorer[data-flow="moons"]'
MNIST = '.gengen-explorer[data-flow="mnist"]'
# Set a control of an explorer and wait for the redraw it schedules.
SET = """async ([root, role, value]) => {
    const r = document.querySelector(root), input = r.querySelector(`[data-role="${role}"]`);
    const before = Number(r.getAttribute('data-draws'));
    input.value = String(value);
    input.dispatchEvent(new Event('input'));
    while (Number(r.getAttribute('data-draws')) === before) await new Promise(requestAnimationFrame);
    return Number(input.value);
}"""
# Move the temperature and look in the frame its redraw starts: the samples are left to work in slices.
SLICED_TEMPERATURE = """async ([root, value]) => {
    const r = document.querySelector(root), input = r.querySelector('[data-role="temperature"]');
    const before = Number(r.getAttribute('data-draws'));
    input.value = String(value);
    input.dispatchEvent(new Event('input'));
    await new Promise(requestAnimationFrame);  // runs after the redraw the input scheduled
    const busy = r.hasAttribute('data-busy');
    while (Number(r.getAttribute('data-draws')) === before) await new Promise(requestAnimationFrame);
    return busy;
}"""
# GengenCore.inSlices on 12 steps of 10 ms each: what runs when (a timer set right after the call, the
# steps, done), whether data-busy is set meanwhile, and that a second call cancels the first.
SLICES = """async () => {
    const core = window.GengenCore, root = document.createElement('div'), order = [];
    const step = () => { const t = performance.now(); while (performance.now() - t < 10); order.push('step'); };
    core.inSlices(root, [step, step], () => order.push('cancelled job done'));
    const finish = resolve => () => { order.push('done'); resolve(); };
    const done = new Promise(resolve => core.inSlices(root, Array(12).fill(step), finish(resolve)));
    const busy = root.hasAttribute('data-busy');
    setTimeout(() => order.push('other task'), 0);
    await done;
    await new Promise(resolve => setTimeout(resolve, 50));
    return {busy: busy, after: root.hasAttribute('data-busy'), order: order};
}"""
CLICK = """async ([root, role]) => {
    const r = document.querySelector(root), before = Number(r.getAttribute('data-draws'));
    r.querySelector(`[data-role="${role}"]`).click();
    while (Number(r.getAttribute('data-draws')) === before) await new Promise(requestAnimationFrame);
}"""


def js_sign(value: float, digits: int) -> str:
    """A number as the page writes it (GengenCore.fmt): +0.123 / −0.123."""
    return ("+" if value >= 0 else "\u2212") + f"{abs(value):.{digits}f}"


def open_flow_page(browser, server, scheme="http", width=1280, dark=False):
    """The page once its two-moons density is drawn on the 96 x 96 grid."""
    return open_explorer_page(browser, server, PAGE, f"{MOONS}[data-density-grid='96']", scheme, width, dark)


def load_mnist_flow(page):
    page.get_by_role("button", name=re.compile("load the flow")).click()
    page.wait_for_selector(f"{MNIST}[data-loaded]", timeout=TIMEOUT_MS)


@pytest.fixture(params=["http", "file"])
def flow_page(browser, server, request):
    """The flow page over http or file://, the two-moons panel drawn; yields (page, log)."""
    context, page, log = open_flow_page(browser, server, request.param)
    yield page, log
    context.close()


@pytest.mark.browser
def test_page_flow_matches_the_library(flow_page):
    """The page's two-moons flow computes gengen_lib's z = f(x), log|det df/dx| and log p(x),
    and its table shows them for the point the sliders set."""
    page, log = flow_page
    model, _ = export_flow.load_flow(BUILT / "flow_moons.js")
    x = torch.tensor([[0.5, 0.25], [-0.75, 0.9], [0.0, 0.0], [1.3, -0.8], [-2.5, -2.5]])
    with torch.no_grad():
        z, log_det = model(x)
        log_p = model.log_prob(x)
    js = page.evaluate(
        """x => { const F = window.GengenFlowExplorer, m = F.model('moons'), f = F.forward(m, x.flat(), x.length);
                  return {z: [...f.z], logdet: [...f.logdet], logp: [...F.logProb(m, x.flat(), x.length)]}; }""",
        x.tolist(),
    )
    np.testing.assert_allclose(np.reshape(js["z"], (-1, 2)), z.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(js["logdet"], log_det.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(js["logp"], log_p.numpy(), rtol=1e-4, atol=1e-4)

    point = [-0.75, 0.9]
    assert page.evaluate(SET, [MOONS, "x1", point[0]]) == point[0]
    assert page.evaluate(SET, [MOONS, "x2", point[1]]) == point[1]
    with torch.no_grad():
        zp, ldp = model(torch.tensor([point]))
    readout = {q: page.locator(f'{MOONS} [data-q="{q}"]').text_content() for q in ("z", "logN", "logdet", "logp")}
    log_n = standard_normal_log_prob(zp)[0].item()
    assert readout["z"] == f"({js_sign(zp[0, 0].item(), 2)}, {js_sign(zp[0, 1].item(), 2)})"
    assert readout["logN"] == js_sign(log_n, 3)
    assert readout["logdet"] == js_sign(ldp[0].item(), 3)
    assert readout["logp"].startswith(js_sign(log_n + ldp[0].item(), 3))
    assert not log.problems, "\n".join(log.problems)
    assert all(is_local(u) for u in log.requests)


@pytest.mark.browser
@pytest.mark.slow
def test_page_samples_are_the_librarys(flow_page, request):
    """After loading, the 16 samples on the canvas are gengen_lib's inverse flow of the chapter's
    noise at the slider's temperature, to one grey level; the page's log p of real digits is the library's."""
    from gengen_lib import data

    page, log = flow_page
    load_mnist_flow(page)
    model, doc = export_flow.load_flow(BUILT / "flow_mnist.js")
    noise = extra_array(doc, "noise")
    worst = {}
    for temperature in (1.0, 0.35, 0.0):
        if temperature != 1.0:
            assert page.evaluate(SET, [MNIST, "temperature", temperature]) == temperature
        with torch.no_grad():
            x = model.inverse(noise * temperature).clamp(0, 1)
        expected = 255.0 * (1.0 - x.double().numpy())
        drawn = np.array(page.evaluate(READ_TILES, [MNIST, "GengenFlowExplorer.SAMPLES", 16]))
        worst[temperature] = np.abs(drawn - expected).max()
    print(f"{request.node.callspec.id}: max |canvas - 255 (1 - f^-1(T noise))| per temperature: {worst}")
    assert max(worst.values()) <= 1.0, worst

    digits = data.dequantize(data.load_mnist("valid").images[:2], torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected_log_p = model.log_prob(digits).numpy()
    js_log_p = page.evaluate(
        "x => [...window.GengenFlowExplorer.logProb(window.GengenFlowExplorer.model('mnist'), x.flat(), x.length)]",
        digits.tolist(),
    )
    np.testing.assert_allclose(js_log_p, expected_log_p, rtol=1e-4)
    assert not log.problems, "\n".join(log.problems)
    if request.node.callspec.id == "http":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "flow_explorer.png", full_page=True)


@pytest.mark.browser
@pytest.mark.slow
def test_every_control_changes_the_drawing(browser, server):
    """The stage slider redraws the warp, the point's sliders and a drag move the point, the
    temperature and "new noise" change the samples, "the chapter's noise" brings them back."""
    context, page, log = open_flow_page(browser, server)
    try:
        density, warp = page.evaluate(CANVASES, MOONS)
        page.evaluate(SET, [MOONS, "stage", 3])
        density_3, warp_3 = page.evaluate(CANVASES, MOONS)
        assert density_3 == density and warp_3 != warp, "the stage slider must redraw the warp only"
        assert "3 of 8" in page.locator(f"{MOONS} figcaption").nth(1).text_content()
        for role, value in (("x1", -1.2), ("x2", 1.4)):
            page.evaluate(SET, [MOONS, role, value])
            moved = page.evaluate(CANVASES, MOONS)
            assert moved[0] != density_3 and moved[1] != warp_3, f"{role} must move the point on both panels"
            density_3, warp_3 = moved

        # Drag the point from the centre of the density panel to its upper left quarter: x = (-1.5, +1.5).
        density_canvas = page.locator(f"{MOONS} canvas").first
        density_canvas.scroll_into_view_if_needed()
        box = density_canvas.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 4, box["y"] + box["height"] / 4, steps=8)
        page.mouse.up()
        page.wait_for_function(  # the drag's last event has been handled (an event, not a clock)
            "root => Math.abs(parseFloat(document.querySelector(root + ' [data-role=\"x1\"]').value) + 1.5) < 0.05",
            arg=MOONS, timeout=TIMEOUT_MS)  # fmt: skip
        x1 = float(page.locator(f'{MOONS} [data-role="x1"]').input_value())
        x2 = float(page.locator(f'{MOONS} [data-role="x2"]').input_value())
        assert (x1, x2) == (pytest.approx(-1.5, abs=0.05), pytest.approx(1.5, abs=0.05))
        assert page.evaluate(CANVASES, MOONS)[0] != density_3, "dragging must move the point"

        load_mnist_flow(page)
        (chapter,) = page.evaluate(CANVASES, MNIST)
        page.evaluate(SET, [MNIST, "temperature", 0.5])
        (cooler,) = page.evaluate(CANVASES, MNIST)
        assert cooler != chapter, "the temperature must change the samples"
        page.evaluate(CLICK, [MNIST, "new-noise"])
        (fresh,) = page.evaluate(CANVASES, MNIST)
        assert fresh != cooler, "new noise must change the samples"
        page.evaluate(CLICK, [MNIST, "chapter-noise"])
        assert page.evaluate(CANVASES, MNIST) == [cooler], "the chapter's noise must bring the samples back"
        assert page.evaluate(SLICED_TEMPERATURE, [MNIST, 0.7]), "new samples must be computed in slices"
        print(f"longest main-thread tasks of the flow page: {log.long_tasks()[:3]} ms")
        assert not log.problems, "\n".join(log.problems)
    finally:
        context.close()


@pytest.mark.browser
def test_long_work_runs_in_slices_between_other_tasks(flow_page):
    """GengenCore.inSlices (the density rasters, the samples, the GAN's strips) runs its steps a few at a
    time: a task queued after it starts runs before it ends; the root is data-busy meanwhile; a new job on
    the same root cancels the old one. The two-moons panel's own work is done once its fine raster shows."""
    page, log = flow_page
    result = page.evaluate(SLICES)
    order = result["order"]
    assert result["busy"] and not result["after"]
    assert order.count("step") == 12 and order[-1] == "done" and "cancelled job done" not in order
    assert 0 < order.index("other task") < 12, f"the page got no turn between the slices: {order}"
    assert page.locator(MOONS).get_attribute("data-busy") is None
    assert not log.problems, "\n".join(log.problems)


@pytest.mark.browser
@pytest.mark.slow
def test_works_on_a_phone_in_dark_mode(browser, server):
    """At 390 px in dark mode both explorers fit the column and draw on white."""
    context, page, log = open_flow_page(browser, server, width=390, dark=True)
    try:
        load_mnist_flow(page)
        assert_canvases_fit_the_column_on_white(page, "data-flow", 3)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "390-dark__flow_explorer_loaded.png", full_page=True)
        assert not log.problems, "\n".join(log.problems)
    finally:
        context.close()
