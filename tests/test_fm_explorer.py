"""The in-page flow-matching explorer: exported weights and paths (gengen_lib/export/flow_matching.py) and the page.

The pure-Python tests read the velocity format as its documentation describes it with their own
NumPy forward pass, check that the exported files are the shipped models (the two-moons velocity
bit for bit, the MNIST paths those of the library's solver) and that exporting twice writes the
same bytes. The browser tests open the built page ``book/fm_explorer.html`` (``jupyter-book build .``
first) and hold its JavaScript to the library: the velocity and its divergence, the Euler, midpoint
and RK4 paths, the density by the instantaneous change of variables, the MNIST frames drawn; then
they move every control, time the page's main-thread tasks and weigh what it transfers.
"""

from __future__ import annotations

import copy
import gzip
import math

import numpy as np
import pytest
import torch
from support import (
    CANVASES,
    HTML,
    READ_TILES,
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

from gengen_lib import flow_matching as fm
from gengen_lib import pretrained, toy
from gengen_lib.export import flow_matching as export_fm
from gengen_lib.export.format import extra_array

PAGE = "book/fm_explorer.html"
BUILT = HTML / "_static" / "explorer"
MAX_PAGE_BYTES = 3_000_000  # what the page transfers, gzip-compressed, weights and paths included
LONGEST_TASK_MS = 200  # a reader feels a main-thread task over about 200 ms as a frozen page
# Every main-thread task over 50 ms as [start, duration] (ms), in window.__fmtasks.
TIMED_TASKS = """window.__fmtasks = [];
new PerformanceObserver(list => {
    for (const e of list.getEntries()) window.__fmtasks.push([e.startTime, e.duration]);
}).observe({type: 'longtask', buffered: true});"""


def numpy_velocity(doc: dict, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """v(x, t) for rows x (N, dim) at times t (N,), from the format's description alone, float64."""
    half = doc["time_dim"] // 2
    frequencies = np.exp(np.linspace(0, math.log(doc["max_frequency"]), half))
    angles = 2 * math.pi * t[:, None] * frequencies[None, :]
    h = np.concatenate([x, np.sin(angles), np.cos(angles)], axis=1)
    layers = doc["layers"]
    for i, layer in enumerate(layers):
        h = h @ numpy_array(layer["weight"], doc["dtype"]).T + numpy_array(layer["bias"], doc["dtype"])
        if i < len(layers) - 1:
            h = h / (1 + np.exp(-h))  # silu
    return h


def random_velocity(float16: bool) -> fm.MLPVelocity:
    return randomized(fm.MLPVelocity(dim=2, hidden=24, time_dim=8), 0.5, float16)


@pytest.mark.parametrize("suffix", [".json", ".js"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_export_round_trip(tmp_path, suffix, dtype):
    """Export -> read back: the document computes the velocity, and load_velocity gives it back bit for bit."""
    velocity = random_velocity(float16=dtype == "float16")
    particles = torch.randn(7, 2)
    doc = export_fm.velocity_document(velocity, "toy", dtype=dtype, extras={"particles": particles})
    path = export_fm.write_document(doc, tmp_path / f"toy{suffix}", export_fm.REGISTRY)
    x, t = torch.randn(64, 2, dtype=torch.float64), torch.rand(64, dtype=torch.float64)
    with torch.no_grad():
        expected = copy.deepcopy(velocity).double()(x, t).numpy()
    read = numpy_document(path, export_fm.REGISTRY)
    assert (read["dim"], read["hidden"], read["time_dim"], read["dtype"]) == (2, 24, 8, dtype)
    np.testing.assert_allclose(numpy_velocity(read, x.numpy(), t.numpy()), expected, rtol=1e-10, atol=1e-10)
    loaded, doc2 = export_fm.load_velocity(path)
    assert doc2 == read
    for key, value in velocity.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert torch.equal(extra_array(doc2, "particles"), particles)


def test_other_files_and_other_networks_are_refused(tmp_path):
    traj = export_fm.trajectory_document(np.zeros((1, 2, 28, 28), np.uint8), [0], [0.0, 1.0], {"method": "euler"})
    path = export_fm.write_document(traj, tmp_path / "paths.js", export_fm.REGISTRY)
    with pytest.raises(ValueError, match="not a gengen-flow-matching file"):
        export_fm.load_velocity(path)
    with pytest.raises(ValueError, match="uint8"):
        export_fm.trajectory_document(np.zeros((1, 2, 28, 28)), [0], [0.0, 1.0], {})
    with pytest.raises(TypeError, match="MLPVelocity"):
        export_fm.velocity_document(fm.UNetVelocity(8), "unet")


def test_the_book_shows_the_shipped_two_moons_velocity(book_weights):
    """fm_moons.js holds the shipped model's velocity (its weight average) bit for bit, its first 1,000
    training points and the page's particles."""
    model, history = pretrained.load(export_fm.MOONS_MODEL)
    velocity, doc = export_fm.load_velocity(book_weights / "fm_moons.js")
    for key, value in model.velocity.state_dict().items():
        assert torch.equal(velocity.state_dict()[key], value), f"fm_moons.js: {key} differs"
    settings = toy.ToyFlowMatchingSettings()
    assert torch.equal(extra_array(doc, "points"), settings.training_points()[: export_fm.MOONS_SHOWN])
    noise = torch.randn(export_fm.PARTICLES, 2, generator=torch.Generator().manual_seed(export_fm.PARTICLE_SEED))
    assert torch.equal(extra_array(doc, "particles"), noise)
    assert doc["dtype"] == "float16" and str(len(history.epochs)) in doc["info"]["model"]
    linears = export_fm._linears(velocity)
    assert doc["info"]["multiply_adds"] == sum(lin.in_features * lin.out_features for lin in linears)


def test_the_shipped_two_moons_model_is_the_chapters_in_full_mode_only():
    assert pretrained.shipped_name(toy.ToyFlowMatchingSettings()) == "flow-matching-moons"
    assert pretrained.shipped_name(toy.ToyFlowMatchingSettings.quick()) is None, "quick mode trains its own"
    entry = pretrained.manifest()["flow-matching-moons"]
    assert entry["command"] == "python -m gengen_lib train toy-flow-matching --epochs 150"
    assert entry["training_seconds"] > 0 and entry["metrics"]["valid_nll"] < 2.0


def test_the_family_trains_what_train_toy_flow_matching_trains(tmp_path):
    """One recipe: the runs-cache family and the chapter's function give the same weights (quick setting)."""
    settings = toy.ToyFlowMatchingSettings.quick()
    cached, history = toy.load_or_train_toy_flow_matching(settings, out_dir=tmp_path / "run")
    direct, direct_history = toy.train_toy_flow_matching(
        settings.training_points(), hidden=settings.hidden, epochs=settings.epochs, seed=settings.seed
    )
    for key, value in direct.state_dict().items():
        assert torch.equal(cached.state_dict()[key], value), key
    assert history.curve("loss") == direct_history.curve("loss")


@pytest.mark.slow
def test_the_shipped_two_moons_model_is_what_its_command_trains(tmp_path):
    """weights/flow-matching-moons is what `python -m gengen_lib train toy-flow-matching` trains, rounded to
    float16 (150 epochs on one thread: about half a minute), on any kind of CPU."""
    trained, history = toy.load_or_train_toy_flow_matching(toy.ToyFlowMatchingSettings(), out_dir=tmp_path / "run")
    shipped, shipped_history = pretrained.load("flow-matching-moons")
    held_out = toy.FLOW_MATCHING_FAMILY.measure(trained, toy.ToyFlowMatchingSettings(), None)["valid_nll"]
    recorded = pretrained.manifest()["flow-matching-moons"]["metrics"]["valid_nll"]
    assert_trained_like_the_shipped(history, shipped_history, "loss", held_out, recorded)
    for key, value in trained.state_dict().items():  # this recipe does not amplify the last bits: 4e-4 seen
        assert torch.allclose(shipped.state_dict()[key], value.half().float(), rtol=1e-2, atol=2e-3), key


def test_the_mnist_paths_are_the_shipped_models(book_weights):
    """fm_mnist.js: for each seed, the first frame is its noise in pixels and the last is the library's
    sample from that seed with the shipped solver (to one grey level: the batch of 8 against one image)."""
    images, doc = export_fm.load_trajectories(book_weights / "fm_mnist.js")
    model, _ = pretrained.load(export_fm.MNIST_MODEL)
    seeds = list(export_fm.MNIST_SEEDS)
    assert images.shape == (len(seeds), export_fm.MNIST_TIMES, 28, 28) and doc["seeds"] == seeds
    assert doc["times"] == pytest.approx(np.linspace(0, 1, export_fm.MNIST_TIMES).tolist(), abs=1e-7)
    assert doc["solver"] == fm.SHIPPED_SOLVER
    noise = export_fm.seed_noise(seeds, model.dim)
    first = (model.preprocess.inverse(noise).clamp(0, 1) * 255).round().reshape(-1, 28, 28)
    assert np.array_equal(images[:, 0], first.to(torch.uint8).numpy())
    with torch.no_grad():
        samples = torch.cat([model.sample(1, generator=torch.Generator().manual_seed(s), **fm.SHIPPED_SOLVER)
                             for s in seeds])  # fmt: skip
    last = (samples * 255).round().reshape(-1, 28, 28).numpy()
    assert np.abs(images[:, -1].astype(float) - last).max() <= 1
    assert doc["info"]["unet_multiply_adds"] > 1000 * export_fm.multiply_adds(
        fm.MLPVelocity(2, 128), torch.zeros(1, 2), torch.zeros(1)
    )


def test_exporting_the_paths_twice_writes_the_same_bytes(book_weights, tmp_path):
    again = export_fm.export_book_flow_matching(tmp_path)
    for path in again:
        assert path.read_bytes() == (book_weights / path.name).read_bytes(), f"{path.name} differs between exports"


# ---------------------------------------------------------------------------------------
# The built page, in headless chromium
# ---------------------------------------------------------------------------------------

MOONS = '.gengen-explorer[data-fm="moons"]'
MNIST = '.gengen-explorer[data-fm="mnist"]'
# Set a control of an explorer and wait for the redraw it schedules (and, for the moons panel, for
# the particles' paths of the new settings).
SET = """async ([root, role, value]) => {
    const r = document.querySelector(root), input = r.querySelector(`[data-role="${role}"]`);
    const before = Number(r.getAttribute('data-draws'));
    input.value = String(value);
    input.dispatchEvent(new Event(input.tagName === 'SELECT' ? 'change' : 'input'));
    while (Number(r.getAttribute('data-draws')) === before) await new Promise(requestAnimationFrame);
    if (r.dataset.fm === 'moons') while (!r.hasAttribute('data-paths')) await new Promise(requestAnimationFrame);
    return input.value;
}"""
CLICK = """async ([root, role]) => {
    const r = document.querySelector(root);
    r.querySelector(`[data-role="${role}"]`).click();
    await new Promise(requestAnimationFrame);
    while (!r.hasAttribute('data-paths')) await new Promise(requestAnimationFrame);
}"""
JS_VELOCITY = """([x, t]) => { const F = window.GengenFMExplorer, m = F.model('moons'), n = x.length;
    const r = F.velocityAndDivergence(m, x.flat(), n, t);
    return {v: [...F.velocity(m, x.flat(), n, t)], vj: [...r.v], div: [...r.div]}; }"""
JS_TRAJECTORY = """([x, times, method, steps]) => { const F = window.GengenFMExplorer, m = F.model('moons');
    return F.trajectory(m, x.flat(), x.length, times, method, steps).map(a => [...a]); }"""
JS_DENSITY = """([x, t, method, steps]) => { const F = window.GengenFMExplorer, m = F.model('moons');
    return [...F.logDensity(m, x.flat(), x.length, t, method, steps)]; }"""


def open_fm_page(browser, server, scheme="http", width=1280, dark=False):
    """The page once its particles and its 48 x 48 density are drawn."""
    return open_explorer_page(browser, server, PAGE, f"{MOONS}[data-paths][data-density-grid='48']", scheme, width,
                              dark, init_script=TIMED_TASKS)  # fmt: skip


@pytest.fixture(params=["http", "file"])
def fm_page(browser, server, request):
    """The flow-matching page over http or file://, the two-moons panel drawn; yields (page, log)."""
    context, page, log = open_fm_page(browser, server, request.param)
    yield page, log
    context.close()


def float64_velocity() -> fm.MLPVelocity:
    """The exported velocity, computed in float64 as the page computes it."""
    velocity, _ = export_fm.load_velocity(BUILT / "fm_moons.js")
    return velocity.double()


@pytest.mark.browser
def test_page_velocity_and_divergence_are_the_librarys(fm_page):
    """The page's v(x, t) is the library's MLPVelocity on the same weights to 1e-5 (run in float64: in
    float32, sin(2 pi t 1000) alone is off by 1e-4 at t = 1), and its divergence is the library's exact one."""
    page, log = fm_page
    velocity = float64_velocity()
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 1.5
    worst = {}
    for t in (0.0, 0.37, 0.9, 1.0):
        js = page.evaluate(JS_VELOCITY, [x.tolist(), t])
        tt = torch.full((len(x),), t, dtype=torch.float64)
        with torch.no_grad():
            v = velocity(x, tt).numpy()
        div = fm.exact_divergence(velocity, x, tt).numpy()
        worst[t] = np.abs(np.reshape(js["v"], (-1, 2)) - v).max()
        np.testing.assert_allclose(np.reshape(js["v"], (-1, 2)), v, rtol=0, atol=1e-5)
        np.testing.assert_allclose(np.reshape(js["vj"], (-1, 2)), v, rtol=0, atol=1e-5)
        np.testing.assert_allclose(js["div"], div, rtol=0, atol=1e-5)
    print(f"max |v_js - v_torch| per t: {worst}")
    assert not log.problems, "\n".join(log.problems)
    assert all(is_local(u) for u in log.requests)


@pytest.mark.browser
@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4"])
def test_page_solvers_are_the_librarys(fm_page, method):
    """The page's paths of its own particles are gengen_lib.flow_matching.trajectory (torchdiffeq's
    fixed-step solver, linear between steps) at times on and between the solver's steps, to 1e-5."""
    page, _ = fm_page
    velocity = float64_velocity()
    _, doc = export_fm.load_velocity(BUILT / "fm_moons.js")
    x0 = extra_array(doc, "particles").double()
    times = [0.0, 0.05, 0.25, 0.5, 0.73, 1.0]
    for steps in (1, 3, 10):
        js = np.array(page.evaluate(JS_TRAJECTORY, [x0.tolist(), times, method, steps])).reshape(len(times), -1, 2)
        expected = fm.trajectory(velocity, x0, torch.tensor(times, dtype=torch.float64), method, steps).numpy()
        np.testing.assert_allclose(js, expected, rtol=0, atol=1e-5, err_msg=f"{method}, {steps} steps")


@pytest.mark.browser
def test_page_density_is_ode_log_prob(fm_page):
    """log p_t on the page is gengen_lib's ode_log_prob (exact divergence): to 1e-5 with the same fixed-step
    solver, and within 0.05 nats of the adaptive dopri5 (1e-5 tolerances) with RK4 and 40 steps (the velocity
    turns sharp near t = 1: there even 40 RK4 steps leave a few hundredths of a nat in the tails)."""
    page, _ = fm_page
    velocity = float64_velocity()
    x = torch.tensor([[0.5, 0.25], [-1.0, 0.5], [1.5, -0.3], [0.0, 0.0], [-2.0, 1.2]], dtype=torch.float64)
    for t in (0.3, 0.75, 1.0):
        for method, steps in (("euler", 12), ("midpoint", 10), ("rk4", 5)):
            js = page.evaluate(JS_DENSITY, [x.tolist(), t, method, steps])
            expected, _ = fm.ode_log_prob(velocity, x, t=t, exact=True, method=method, steps=steps)
            np.testing.assert_allclose(js, expected.numpy(), rtol=0, atol=1e-5, err_msg=f"t={t} {method} {steps}")
        js = page.evaluate(JS_DENSITY, [x.tolist(), t, "rk4", 40])
        adaptive, _ = fm.ode_log_prob(velocity, x, t=t, exact=True)
        print(f"t = {t}: max |log p_js(rk4, 40) - log p(dopri5)| = {np.abs(js - adaptive.numpy()).max():.2e} nats")
        np.testing.assert_allclose(js, adaptive.numpy(), rtol=0, atol=0.05)
    assert page.evaluate(JS_DENSITY, [x.tolist(), 0.0, "rk4", 4]) == pytest.approx(
        fm.standard_normal_log_prob(x).tolist(), abs=1e-12
    )


@pytest.mark.browser
def test_page_mnist_frames_are_the_exported_paths(fm_page):
    """At every slider position the eight digits on the canvas are that frame of fm_mnist.js, exactly
    (grey = 255 - ink)."""
    page, log = fm_page
    images, doc = export_fm.load_trajectories(BUILT / "fm_mnist.js")
    for k in (0, 7, 13, len(doc["times"]) - 1):
        page.evaluate(SET, [MNIST, "frame", k])
        assert page.locator(MNIST).get_attribute("data-frame") == str(k)
        drawn = np.array(page.evaluate(READ_TILES, [MNIST, "GengenFMExplorer.DIGITS", 8]))
        assert np.array_equal(drawn, 255 - images[:, k].reshape(len(images), -1).astype(int)), f"frame {k}"
    assert not log.problems, "\n".join(log.problems)


@pytest.mark.browser
@pytest.mark.slow
def test_every_control_changes_the_drawing_and_the_page_reports_its_longest_tasks(browser, server):
    """The time slider moves the particles and recomputes the density, the solver and its steps change
    the paths, "new particles" draws others; the MNIST slider changes the frame. The longest main-thread
    tasks since the panels mounted are printed (on a quiet machine none is over 200 ms)."""
    context, page, log = open_fm_page(browser, server)
    try:
        particles, density = page.evaluate(CANVASES, MOONS)
        page.evaluate(SET, [MOONS, "time", 0.3])
        moved = page.evaluate(CANVASES, MOONS)
        assert moved[0] != particles, "the time slider must move the particles"
        page.wait_for_selector(f"{MOONS}[data-density-t='0.3'][data-density-grid='48']", timeout=4 * TIMEOUT_MS)
        assert page.evaluate(CANVASES, MOONS)[1] != density, "the time slider must redraw the density"
        for role, value in (("method", "euler"), ("steps", 2), ("method", "rk4")):
            before = page.evaluate(CANVASES, MOONS)[0]
            page.evaluate(SET, [MOONS, role, value])
            assert page.evaluate(CANVASES, MOONS)[0] != before, f"{role} = {value} must change the paths"
        before = page.evaluate(CANVASES, MOONS)[0]
        page.evaluate(CLICK, [MOONS, "new-particles"])
        assert page.evaluate(CANVASES, MOONS)[0] != before, "new particles must change the drawing"
        (frame,) = page.evaluate(CANVASES, MNIST)
        page.evaluate(SET, [MNIST, "frame", 18])
        assert page.evaluate(CANVASES, MNIST) != [frame], "the MNIST slider must change the frame"
        page.wait_for_selector(f"{MOONS}[data-density-grid='48']", timeout=4 * TIMEOUT_MS)
        page.wait_for_function("root => !document.querySelector(root + ' [data-busy]')", arg=MOONS)
        # The explorer's tasks: from its panels' mounting on (the theme's and MathJax's loading come before).
        start = min(float(page.locator(r).get_attribute("data-mount-at")) for r in (MOONS, MNIST))
        mounting = [float(page.locator(r).get_attribute("data-mount-ms")) for r in (MOONS, MNIST)]
        tasks = sorted((d for s, d in page.evaluate("() => window.__fmtasks") if s >= start), reverse=True)
        root = page.locator(MOONS)
        measured = {key: root.get_attribute(f"data-{key}-ms") for key in ("paths", "draw", "density")}
        print(f"longest main-thread tasks since the explorers mounted: {[round(d) for d in tasks[:3]]} ms (all tasks "
              f"of the page: {log.long_tasks()[:3]} ms); mounting {mounting} ms; last particle paths, particle "
              f"redraw and fine density (ms): {measured}")
        # Printed, not asserted: a wall-clock figure fails on a busy machine (the explorers' benchmark,
        # bench/explorers.py, is where the 200 ms target is measured); slicing itself is checked by the
        # page's own markers above (the density arrives at its fine grid after the panels mounted).
        over = [round(d) for d in tasks if d > LONGEST_TASK_MS]
        print(f"tasks over {LONGEST_TASK_MS} ms since mounting: {over or 'none'}")
        assert not log.problems, "\n".join(log.problems)
    finally:
        context.close()


@pytest.mark.browser
def test_the_density_adds_up_to_one(fm_page):
    """With the default solver the density on the square [-3, 3]^2 sums to 1 within 2% (the caption says so)."""
    page, _ = fm_page
    caption = page.locator(f"{MOONS} figcaption").nth(1).text_content()
    total = float(caption.rsplit(" ", 1)[1])
    assert abs(total - 1) < 0.02, caption


@pytest.mark.browser
def test_the_page_transfers_under_three_megabytes(browser, server):
    """Everything the page loads, its weights and paths included, weighs under 3 MB gzip-compressed."""
    from urllib.parse import urlsplit

    context, page, log = open_fm_page(browser, server)
    try:
        page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    finally:
        context.close()
    total, ours = 0, {}
    for url in set(log.requests):
        path = HTML / urlsplit(url).path.removeprefix(urlsplit(server).path)
        if url.startswith(server) and path.is_file():
            size = len(gzip.compress(path.read_bytes(), compresslevel=6))
            total += size
            if "/explorer/" in url:
                ours[path.name] = size
    print(f"{PAGE}: {total / 1e6:.2f} MB transferred (gzip); the explorer's files: {ours}")
    assert {"fm_moons.js", "fm_mnist.js", "fm-explorer.js", "explorer-core.js"} <= set(ours)
    assert total <= MAX_PAGE_BYTES


@pytest.mark.browser
@pytest.mark.slow
def test_works_on_a_phone_in_dark_mode(browser, server):
    """At 390 px in dark mode both panels fit the column and draw on white."""
    context, page, log = open_fm_page(browser, server, width=390, dark=True)
    try:
        assert_canvases_fit_the_column_on_white(page, "data-fm", 3)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "390-dark__fm_explorer.png", full_page=True)
        assert not log.problems, "\n".join(log.problems)
    finally:
        context.close()
