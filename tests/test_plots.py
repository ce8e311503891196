"""Specification of the curve helpers the chapters' figures use."""

from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest
import torch

from gengen_lib import alt_text, figures, plots


def test_log_binned_keeps_the_first_steps_and_averages_the_later_ones():
    values = [float(v) for v in range(1, 10_001)]  # value = step
    steps, means = plots.log_binned(values, bins=100)
    assert steps[:3].tolist() == [1.0, 2.0, 3.0] and means[:3].tolist() == [1.0, 2.0, 3.0]
    assert (steps[1:] > steps[:-1]).all(), "bins are in order"
    assert means[-1] > 8000 and len(steps) < 100
    assert means.tolist() == pytest.approx(steps.tolist(), rel=0.05), "for a linear curve, the mean sits at the centre"


def test_smoothed_is_a_running_mean_placed_at_the_window_centre():
    steps, means = plots.smoothed([0.0, 2.0] * 100, window=20)
    assert torch.allclose(means, torch.ones_like(means))
    assert steps[0].item() == 10.0


def test_a_runs_snapshots_show_in_training_order_and_a_short_run_shows_two():
    history = SimpleNamespace(snapshots={"end": torch.rand(64, 784), "start": torch.rand(64, 784)})
    fig = plots.show_snapshots(history, "(a) ")
    assert [ax.get_title() for ax in fig.axes] == ["(a) start", "(a) end"]
    history.snapshots["half"] = torch.rand(64, 784)
    fig = plots.show_snapshots(history)
    assert [ax.get_title() for ax in fig.axes] == ["start", "halfway", "end"]
    assert "64 images" in alt_text.description(fig)
    plt.close("all")


def test_class_histograms_draw_a_bar_per_model_and_digit_and_name_each_largest_class():
    counts = {"even": [100] * 10, "ones": [50] * 9 + [550]}
    fig = figures.class_histograms(counts)
    (ax,) = fig.axes
    assert len(ax.patches) == 20 and sorted({p.get_height() for p in ax.patches}) == [50, 100, 550]
    assert [line.get_ydata()[0] for line in ax.get_lines()] == [100], "the dashed line at an even tenth"
    assert "of 1,000" in ax.get_ylabel()
    text = alt_text.description(fig)
    assert "even 10.0% (digit 0)" in text and "ones 55.0% (digit 9)" in text
    plt.close(fig)
