"""The log-densities every model shares: values against closed forms worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from gengen_lib.densities import bernoulli_log_prob, gaussian_log_prob, standard_normal_log_prob

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)


def test_the_standard_normal_log_density_by_hand():
    z = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]], dtype=torch.float64)
    # log N(z; 0, I) = -(D/2) log(2 pi) - |z|^2 / 2
    expected = [-1.5 * math.log(2 * math.pi), -1.5 * math.log(2 * math.pi) - (1 + 4 + 0.25) / 2]
    assert standard_normal_log_prob(z).tolist() == pytest.approx(expected, abs=1e-12)


def test_the_diagonal_gaussian_log_density_by_hand():
    z = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    mu = torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    logvar = torch.tensor([[math.log(4.0), 0.0]], dtype=torch.float64)  # sigma = 2 and 1
    # per dimension -log(sigma) - log(2 pi)/2 - (z - mu)^2 / (2 sigma^2)
    first = -math.log(2.0) - 0.5 * math.log(2 * math.pi) - 4.0 / 8.0
    second = -0.5 * math.log(2 * math.pi) - 1.0 / 2.0
    assert gaussian_log_prob(z, mu, logvar).item() == pytest.approx(first + second, abs=1e-12)


def test_the_diagonal_gaussian_at_zero_mean_and_unit_variance_is_the_standard_normal():
    z = torch.randn(5, 4, dtype=torch.float64)
    zeros = torch.zeros_like(z)
    assert torch.allclose(gaussian_log_prob(z, zeros, zeros), standard_normal_log_prob(z))


def test_densities_sum_over_the_last_dimension_only():
    z = torch.randn(2, 3, 4)
    assert standard_normal_log_prob(z).shape == (2, 3)
    assert gaussian_log_prob(z, z, torch.zeros_like(z)).shape == (2, 3)
    assert bernoulli_log_prob(z, (z > 0).float()).shape == (2, 3)


def test_the_bernoulli_log_probability_by_hand():
    logits = torch.tensor([[2.0, -1.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    sigmoid = lambda a: 1 / (1 + math.exp(-a))
    # log sigma(2) for the pixel that is on, log(1 - sigma(l)) for the two that are off
    expected = math.log(sigmoid(2.0)) + math.log(1 - sigmoid(-1.0)) + math.log(0.5)
    assert bernoulli_log_prob(logits, x).item() == pytest.approx(expected, abs=1e-12)


def test_the_bernoulli_log_probability_stays_finite_at_confident_wrong_logits():
    """log sigma(-100) = -100 - log(1 + e^-100): the log of a rounded sigmoid would be -inf."""
    logits = torch.tensor([[-100.0, 100.0]])
    x = torch.tensor([[1.0, 0.0]])
    assert bernoulli_log_prob(logits, x).item() == pytest.approx(-200.0, rel=1e-6)


def test_one_image_is_scored_against_many_latent_samples():
    """x (N, D) broadcasts over leading sample dimensions of the logits (m, N, D)."""
    logits = torch.randn(5, 2, 3, dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    scores = bernoulli_log_prob(logits, x)
    assert scores.shape == (5, 2)
    for m in range(5):
        assert torch.allclose(scores[m], bernoulli_log_prob(logits[m], x))
