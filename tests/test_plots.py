"""Specification of the curve helpers the chapters' figures use."""

import pytest
import torch

from gengen_lib import plots


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
