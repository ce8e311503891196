"""A figure's fingerprint (what nbval compares for figures) changes with what a reader sees, and only then."""

from __future__ import annotations

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gengen_lib import figure_fingerprint  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def curves(shift=0.0, colour="tab:blue", noise=0.0, title="losses"):
    """Two panels: a curve (shifted up by ``shift``, with relative ``noise``) and an image."""
    x = np.linspace(0, 10, 200)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
    ax1.plot(x, np.sin(x) * (1 + noise) + shift, color=colour, label="train")
    ax1.set(title=title, xlabel="epoch")
    ax1.legend()
    ax2.imshow(np.arange(64.0).reshape(8, 8), cmap="gray")
    ax2.set_title("an image")
    return fig


def test_the_same_figure_drawn_twice_has_the_same_fingerprint():
    assert figure_fingerprint.fingerprint(curves()) == figure_fingerprint.fingerprint(curves())


def test_the_fingerprint_names_the_figure_and_each_panel():
    text = figure_fingerprint.fingerprint(curves())
    assert text.splitlines()[0].startswith("figure 'losses | an image' (8.0 x 3.0 in, 2 panels): ")
    assert text.splitlines()[1].startswith("  panel 1 'losses': ")
    assert text.splitlines()[2].startswith("  panel 2 'an image': ")


def test_float_noise_far_below_a_pixel_leaves_it_unchanged():
    assert figure_fingerprint.fingerprint(curves(noise=1e-9)) == figure_fingerprint.fingerprint(curves())


@pytest.mark.parametrize("change", [{"shift": 0.05}, {"colour": "tab:red"}, {"title": "loss"}])
def test_a_visible_change_changes_the_digest_of_that_panel_only(change):
    before = figure_fingerprint.fingerprint(curves()).splitlines()
    after = figure_fingerprint.fingerprint(curves(**change)).splitlines()
    assert before[0] != after[0]
    assert before[1].split(": ")[-1] != after[1].split(": ")[-1]
    assert before[2] == after[2]


def test_reordering_the_images_of_a_grid_changes_it():
    pixels = np.random.default_rng(0).random((4, 4))
    fingerprints = []
    for image in (pixels, pixels[::-1]):
        fig, ax = plt.subplots()
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        fingerprints.append(figure_fingerprint.fingerprint(fig))
    assert fingerprints[0] != fingerprints[1]


def test_a_figure_of_wall_times_is_compared_by_its_form_only():
    def timings(seconds, label="seconds"):
        fig, ax = plt.subplots()
        ax.loglog([64, 128, 256], seconds, "o-", label="slogdet")
        ax.set_ylabel(label)
        figure_fingerprint.leave_out_data(fig, "wall-clock times")
        return figure_fingerprint.fingerprint(fig)

    assert timings([1e-4, 3e-4, 2e-3]) == timings([2e-4, 5e-4, 1e-3])
    assert timings([1e-4, 3e-4, 2e-3]) != timings([1e-4, 3e-4, 2e-3], label="milliseconds")
    assert "(its numbers are not compared: wall-clock times)" in timings([1.0, 2.0, 3.0])


def test_a_figure_with_many_panels_lists_the_first_ones_and_digests_all():
    fig, axes = plt.subplots(3, 6)
    for i, ax in enumerate(axes.flat):
        ax.plot([0, 1], [0, i])
    lines = figure_fingerprint.fingerprint(fig).splitlines()
    assert len(lines) == 1 + figure_fingerprint.MAX_PANELS_LISTED + 1
    assert lines[-1] == "  ... 6 more panels (in the digest above)"


def test_registered_it_is_the_text_an_ipython_display_of_a_figure_carries():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        figure_fingerprint.register()
        fig = curves()
        data, _ = shell.display_formatter.format(fig)
        assert data["text/plain"] == figure_fingerprint.fingerprint(fig)
    finally:
        InteractiveShell.clear_instance()
