"""Specifications of flow matching: the path, the loss, the divergences, the ODE likelihood, the score."""

import copy
import math

import pytest
import torch
from torch import nn

from gengen_lib import flow_matching as fm
from gengen_lib.densities import standard_normal_log_prob
from gengen_lib.flows import bits_per_dim
from gengen_lib.toy import train_toy_flow_matching, two_moons

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)


def _mixture(dtype=torch.float64) -> fm.GaussianMixture:
    means = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]], dtype=dtype)
    return fm.GaussianMixture(means, 0.3, torch.tensor([0.5, 0.3, 0.2], dtype=dtype))


class Linear(nn.Module):
    """v(x, t) = A x + t b: few parameters, so a gradient can be compared entry by entry."""

    def __init__(self, dim=2):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.A = nn.Parameter(torch.randn(dim, dim, generator=g, dtype=torch.float64))
        self.b = nn.Parameter(torch.randn(dim, generator=g, dtype=torch.float64))

    def forward(self, x, t):
        return x @ self.A.T + t[:, None] * self.b


def test_the_straight_path_starts_at_noise_ends_at_data_and_moves_at_constant_velocity():
    x0, x1 = torch.randn(5, 3), torch.randn(5, 3)
    start, u = fm.straight_path(x0, x1, torch.zeros(5))
    end, _ = fm.straight_path(x0, x1, torch.ones(5))
    half, _ = fm.straight_path(x0, x1, torch.full((5,), 0.5))
    torch.testing.assert_close(start, x0)
    torch.testing.assert_close(end, x1)
    torch.testing.assert_close(half, (x0 + x1) / 2)
    torch.testing.assert_close(u, x1 - x0)


def test_the_mixture_marginal_velocity_at_time_zero_points_from_x_to_the_data_mean():
    """At t = 0, x_t = x0 tells nothing about x1, so u_0(x) = E[x1] - x."""
    mix = _mixture()
    x = torch.randn(7, 2, dtype=torch.float64)
    expected = (mix.weights[:, None] * mix.means).sum(0) - x
    torch.testing.assert_close(mix.marginal_velocity(x, torch.zeros(7, dtype=torch.float64)), expected)


def test_the_conditional_loss_has_the_gradient_of_the_marginal_loss():
    """The two losses differ by a constant in the network, so on the same draws their gradients agree
    up to Monte Carlo noise; a wrong target (x0 - x1) would be far off."""
    mix = _mixture()
    g = torch.Generator().manual_seed(2)
    n = 200_000
    x1 = mix.sample(n, g)
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    t = torch.rand(n, generator=g, dtype=torch.float64) * 0.98
    xt, u_conditional = fm.straight_path(x0, x1, t)
    u_marginal = mix.marginal_velocity(xt, t)
    model = Linear()

    def gradient(target):
        model.zero_grad()
        (model(xt, t) - target).pow(2).sum(-1).mean().backward()
        return torch.cat([model.A.grad.flatten(), model.b.grad])

    conditional, marginal, wrong = gradient(u_conditional), gradient(u_marginal), gradient(-u_conditional)
    assert (conditional - marginal).norm() / marginal.norm() < 0.02
    assert (wrong - marginal).norm() / marginal.norm() > 0.5


def test_the_loss_is_the_mean_squared_velocity_error_summed_over_dimensions():
    class Zero(nn.Module):
        def forward(self, x, t):
            return torch.zeros_like(x)

    g = torch.Generator().manual_seed(3)
    x1 = torch.randn(1000, 4, generator=g, dtype=torch.float64) * 2 + 1
    loss = fm.conditional_flow_matching_loss(Zero(), x1, torch.Generator().manual_seed(4))
    # E|x1 - x0|^2 = 4 dims * (var 4 + mean 1 + var 1) = 24
    assert abs(loss.item() - 24.0) < 1.5


def test_the_exact_divergence_is_the_jacobian_trace():
    torch.manual_seed(0)
    velocity = fm.MLPVelocity(3, 16).double()
    x, t = torch.randn(4, 3, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    expected = torch.stack([
        torch.autograd.functional.jacobian(lambda y, i=i: velocity(y[None], t[i : i + 1])[0], x[i]).trace()
        for i in range(4)
    ])  # fmt: skip
    torch.testing.assert_close(fm.exact_divergence(velocity, x, t), expected, rtol=1e-12, atol=1e-12)


def test_hutchinsons_estimator_is_unbiased_and_its_variance_shrinks_with_averaging():
    torch.manual_seed(0)
    velocity = fm.MLPVelocity(3, 16).double()
    x, t = torch.randn(1, 3, dtype=torch.float64).expand(20_000, 3), torch.full((20_000,), 0.3, dtype=torch.float64)
    noise = torch.randint(0, 2, (20_000, 3), generator=torch.Generator().manual_seed(5)).double() * 2 - 1
    estimates = fm.hutchinson_divergence(velocity, x, t, noise)
    exact = fm.exact_divergence(velocity, x[:1], t[:1])[0]
    standard_error = estimates.std() / math.sqrt(len(estimates))
    assert abs(estimates.mean() - exact) < 4 * standard_error
    assert estimates.std() > 0  # a single draw is noisy: the trace is not read off exactly


class Expanding(nn.Module):
    """v(x, t) = a x: x_t = x_0 e^{a t}, so p_1 = N(0, e^{2a} I)."""

    def __init__(self, a):
        super().__init__()
        self.a = a

    def forward(self, x, t):
        return self.a * x


@pytest.mark.parametrize("exact", [True, False])
def test_the_ode_likelihood_of_a_linear_field_is_the_known_gaussian(exact):
    a, d = 0.7, 3
    x1 = torch.randn(6, d, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    log_p, nfe = fm.ode_log_prob(Expanding(a), x1, exact=exact, generator=torch.Generator().manual_seed(7),
                                 rtol=1e-9, atol=1e-9)  # fmt: skip
    expected = standard_normal_log_prob(x1 * math.exp(-a)) - d * a
    torch.testing.assert_close(log_p, expected, rtol=1e-6, atol=1e-6)
    assert nfe > 2


def test_fixed_step_solvers_converge_at_their_order():
    x0 = torch.ones(1, 1, dtype=torch.float64)
    errors = {}
    for method in ("euler", "midpoint"):
        errors[method] = [abs(fm.integrate(Expanding(1.0), x0, method=method, steps=s)[0].item() - math.e)
                          for s in (10, 20)]  # fmt: skip
    assert 1.8 < errors["euler"][0] / errors["euler"][1] < 2.2  # first order: half the step, half the error
    assert 3.6 < errors["midpoint"][0] / errors["midpoint"][1] < 4.4  # second order: a quarter
    assert fm.integrate(Expanding(1.0), x0, method="euler", steps=10)[1] == 10
    assert fm.integrate(Expanding(1.0), x0, method="midpoint", steps=10)[1] == 20


def test_unknown_solvers_and_bad_step_counts_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^unknown ODE method 'heun'; choose one of euler, midpoint, rk4, dopri5$"):
        fm.integrate(Expanding(1.0), torch.ones(1, 1), method="heun")
    with pytest.raises(ValueError, match="needs a positive whole number of steps, got 0"):
        fm.integrate(Expanding(1.0), torch.ones(1, 1), method="euler", steps=0)


def test_the_score_follows_from_the_velocity_on_the_mixture():
    mix = _mixture()
    g = torch.Generator().manual_seed(8)
    x = torch.randn(50, 2, generator=g, dtype=torch.float64) * 2
    t = torch.rand(50, generator=g, dtype=torch.float64) * 0.9
    score = fm.score_from_velocity(mix.marginal_velocity(x, t), x, t)
    xg = x.clone().requires_grad_(True)
    (autograd_score,) = torch.autograd.grad(mix.log_density(xg, t).sum(), xg)
    torch.testing.assert_close(score, autograd_score, rtol=1e-10, atol=1e-10)


def test_the_mixture_density_at_time_zero_is_the_standard_normal():
    x = torch.randn(10, 2, dtype=torch.float64)
    torch.testing.assert_close(_mixture().log_density(x, torch.zeros(10, dtype=torch.float64)),
                               standard_normal_log_prob(x))  # fmt: skip


def test_an_untrained_image_model_is_the_logit_step_alone():
    """The U-Net's last layer starts at zero, so v = 0: log p(u) = log N(logit step(u)) + its log-determinant,
    and bits/dim follows chapter 3's convention."""
    model = fm.build_flow_matching(fm.FlowMatchingSettings.quick()).double()
    u = torch.rand(3, 784, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    log_p, _ = model.log_prob(u, exact=False, generator=torch.Generator().manual_seed(10), method="euler", steps=2)
    y, log_det = model.preprocess(u)
    torch.testing.assert_close(log_p, standard_normal_log_prob(y) + log_det)
    assert bits_per_dim(log_p).shape == (3,)


def test_samples_are_images_in_the_unit_interval_and_points_are_raw():
    model = fm.build_flow_matching(fm.FlowMatchingSettings.quick())
    images = model.sample(2, generator=torch.Generator().manual_seed(0), steps=2)
    assert images.shape == (2, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    toy = fm.FlowMatchingModel(fm.MLPVelocity(2, 8), 2, image_shape=None, logit_alpha=None)
    assert toy.sample(5, steps=2).shape == (5, 2)


def test_the_average_moves_towards_the_trained_network():
    model = fm.FlowMatchingModel(fm.MLPVelocity(2, 8), 2, image_shape=None, logit_alpha=None)
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.ema.parameters()]
    model.update_average(0.9)
    for b, a, n in zip(before, model.ema.parameters(), model.net.parameters(), strict=True):
        torch.testing.assert_close(a, 0.9 * b + 0.1 * n)


@pytest.mark.slow
def test_two_moons_learned_in_seconds_beats_the_standard_normal():
    data = two_moons(4000, generator=torch.Generator().manual_seed(0))
    model, history = train_toy_flow_matching(data, hidden=64, epochs=40)
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"]
    test = two_moons(500, generator=torch.Generator().manual_seed(1))
    log_p, _ = model.log_prob(test, exact=True)
    assert log_p.mean() > standard_normal_log_prob(test).mean() + 0.5


def test_removing_the_average_bias_recovers_the_trained_weights_when_they_stayed_put():
    """After n updates towards fixed weights w the average is decay^n init + (1 - decay^n) w; the correction gives w."""
    model = fm.FlowMatchingModel(fm.MLPVelocity(2, 8).double(), 2, image_shape=None, logit_alpha=None)
    initial = copy.deepcopy(model.net)
    with torch.no_grad():
        for p in model.net.parameters():
            p.mul_(-3.0).add_(0.5)
    for _ in range(50):
        model.update_average(0.97)
    model.remove_average_bias(initial, 0.97, 50)
    for average, trained in zip(model.ema.parameters(), model.net.parameters(), strict=True):
        torch.testing.assert_close(average, trained, rtol=1e-10, atol=1e-10)
