"""Specification of gengen_lib.vae: the bound, its parts and the likelihood estimators."""

from __future__ import annotations

import math

import pytest
import torch

from gengen_lib import vae
from gengen_lib.data import binarize

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)


def test_kl_matches_the_textbook_formula_per_dimension():
    mu, logvar = torch.tensor([[0.0, 1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0), math.log(0.25)]])
    sigma2 = logvar.exp()
    expected = sum(0.5 * (s + m**2 - math.log(s) - 1) for m, s in zip(mu[0].tolist(), sigma2[0].tolist(), strict=True))
    assert vae.kl_standard_normal(mu, logvar).item() == pytest.approx(expected, rel=1e-6)


def test_kl_is_zero_only_at_the_prior_and_grows_in_every_direction():
    zero = torch.zeros(1, 1)
    assert vae.kl_standard_normal(zero, zero).item() == 0.0
    grows = [vae.kl_standard_normal(torch.tensor([[m]]), torch.tensor([[2 * math.log(s)]])).item()
             for m, s in [(10.0, 1.0), (0.0, 0.01), (0.0, 100.0)]]
    assert all(k > 4 for k in grows)
    assert vae.kl_standard_normal(torch.tensor([[10.0]]), torch.tensor([[2 * math.log(0.01)]])).item() == pytest.approx(
        0.5 * (1e-4 + 100 - math.log(1e-4) - 1), rel=1e-6
    )


def test_kl_agrees_with_a_monte_carlo_estimate():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([[0.7, -1.2]]), torch.tensor([[-0.5, 0.8]])
    z = vae.reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2))
    from gengen_lib.densities import gaussian_log_prob, standard_normal_log_prob

    mc = (gaussian_log_prob(z, mu, logvar) - standard_normal_log_prob(z)).mean()
    assert mc.item() == pytest.approx(vae.kl_standard_normal(mu, logvar).item(), abs=0.01)


def test_reparameterized_samples_have_the_right_mean_and_variance_and_carry_gradients():
    mu = torch.tensor([2.0, -1.0], requires_grad=True)
    logvar = torch.tensor([math.log(0.25), math.log(4.0)], requires_grad=True)
    z = vae.reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2), torch.Generator().manual_seed(0))
    assert z.mean(0).tolist() == pytest.approx([2.0, -1.0], abs=0.02)
    assert z.var(0).tolist() == pytest.approx([0.25, 4.0], rel=0.02)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small VAE trained for a few seconds on 5,000 images."""
    torch.manual_seed(0)
    model, history = vae.load_or_train_vae(vae.VAESettings(epochs=3, train_subset=5000, hidden=200),
                                   out_dir=tmp_path_factory.mktemp("vae"), quiet=True)
    return model, history


@pytest.fixture(scope="module")
def digits(small_train):
    return binarize(small_train.images[:32])


def test_a_tiny_vae_learns_within_seconds(trained):
    _, h = trained
    assert h.curve("valid_elbo")[-1] > h.curve("valid_elbo")[0] > -543.5
    assert h.epochs[-1]["kl"] > 1.0, "the posterior must move away from the prior"


def test_elbo_parts_add_up(trained, digits):
    model, _ = trained
    parts = model.elbo_terms(digits)
    assert parts.elbo.shape == (32,)
    assert torch.allclose(parts.elbo, parts.reconstruction - parts.kl)
    assert (parts.kl >= 0).all() and (parts.reconstruction <= 0).all()


def test_importance_sampling_beats_the_elbo_and_tightens_with_k(trained, digits):
    model, _ = trained
    torch.manual_seed(0)
    elbo = torch.stack([model.elbo_terms(digits).elbo for _ in range(20)]).mean(0)
    ll_1 = torch.stack([vae.log_likelihood(model, digits, k=1) for _ in range(20)]).mean(0)
    ll_100 = vae.log_likelihood(model, digits, k=100)
    ll_1000 = vae.log_likelihood(model, digits, k=1000)
    assert ll_1.mean().item() == pytest.approx(elbo.mean().item(), abs=1.0), "k = 1 is the ELBO in expectation"
    assert ll_100.mean() > elbo.mean() + 1.0
    assert ll_1000.mean() >= ll_100.mean() - 0.05


def test_the_naive_prior_estimator_is_biased_low(trained, digits):
    model, _ = trained
    torch.manual_seed(0)
    naive = vae.prior_log_likelihood(model, digits, samples=2000)
    good = vae.log_likelihood(model, digits, k=1000)
    assert (naive < good).float().mean() > 0.9
    assert (good - naive).mean() > 5.0, "prior samples rarely explain a digit"


def test_sampling_returns_means_in_the_unit_interval_and_binary_samples(trained):
    model, _ = trained
    means = model.sample(10, generator=torch.Generator().manual_seed(0))
    samples = model.sample(10, generator=torch.Generator().manual_seed(0), binary=True)
    assert means.shape == samples.shape == (10, 1, 28, 28)
    assert ((means > 0) & (means < 1)).all()
    assert set(samples.unique().tolist()) <= {0.0, 1.0}


def test_the_default_vae_is_the_reports_784_500_20_network():
    model = vae.VAE()
    layers = lambda net: [f"Linear({m.in_features}, {m.out_features})" if isinstance(m, torch.nn.Linear)
                          else type(m).__name__ for m in net]  # fmt: skip
    assert layers(model.encoder) == ["Linear(784, 500)", "ReLU", "Linear(500, 40)"]  # mean and log-variance
    assert layers(model.decoder) == ["Linear(20, 500)", "ReLU", "Linear(500, 784)"]


def test_the_smallest_vae_is_allowed():
    assert vae.VAE(z_dim=1, hidden=1).decode(torch.zeros(2, 1)).shape == (2, 784)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="must be positive"):
        vae.VAE(z_dim=0)


def test_the_estimators_work_on_a_float64_model():
    model = vae.VAE(z_dim=3, hidden=8).double()
    x = (torch.rand(4, 784) < 0.2).double()
    assert vae.prior_log_likelihood(model, x, samples=10).dtype == torch.float64
    assert vae.log_likelihood(model, x, k=10).dtype == torch.float64
    assert model.sample(2, binary=True).dtype == torch.float64


def test_importance_sampling_lands_on_the_exact_log_likelihood_of_a_one_dimensional_latent():
    """With z in one dimension, log p(x) = log of an integral over z, computed here by quadrature."""
    torch.manual_seed(3)
    model = vae.VAE(z_dim=1, hidden=16).double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
        model.encoder[-1].weight.zero_()  # the proposal q = N(0, 2^2) for every image: broad enough
        model.encoder[-1].bias.copy_(torch.tensor([0.0, math.log(4.0)]))
    x = (torch.rand(3, 784, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    z = torch.linspace(-10, 10, 40_001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        log_joint = -torch.nn.functional.binary_cross_entropy_with_logits(
            model.decode(z)[:, None, :].expand(-1, 3, -1), x.expand(len(z), -1, -1), reduction="none"
        ).sum(-1) + torch.distributions.Normal(0.0, 1.0).log_prob(z)
    exact = torch.logsumexp(log_joint, dim=0) + math.log(z[1, 0] - z[0, 0])
    estimate = vae.log_likelihood(model, x, k=20_000, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(estimate, exact, atol=0.05), (estimate, exact)


# --- Specifications that need no training (fast enough for `make mutation`) ----------------


def _one_dimensional_vae(q_mean: float = 0.0, q_var: float = 4.0) -> vae.VAE:
    """A float64 VAE with a 1-d latent and random decoder weights; q(z | x) = N(q_mean, q_var) for every x."""
    torch.manual_seed(3)
    model = vae.VAE(z_dim=1, hidden=16).double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
        model.encoder[-1].weight.zero_()
        model.encoder[-1].bias.copy_(torch.tensor([q_mean, math.log(q_var)], dtype=torch.float64))
    return model


def _binary_images(n: int, dtype=torch.float64) -> torch.Tensor:
    return (torch.rand(n, 784, generator=torch.Generator().manual_seed(0)) < 0.3).to(dtype)


def _log_p_x_given_z_on_a_grid(model: vae.VAE, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for every grid point z (G, 1) and image x (N, 784): x.l - softplus(l) summed. -> (G, N)."""
    logits = model.decode(z)
    return logits @ x.T - torch.nn.functional.softplus(logits).sum(-1, keepdim=True)


def _exact_log_likelihood(model: vae.VAE, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log of the integral of p(x | z) N(z; 0, 1) over a 1-d z, by the rectangle rule."""
    z = torch.linspace(-10, 10, 20_001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        log_joint = _log_p_x_given_z_on_a_grid(model, x, z) - 0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(log_joint, dim=0) + math.log(z[1, 0] - z[0, 0])


def _decoder_that_ignores_z(model: vae.VAE, pixel_probability: float) -> None:
    """Every pixel is on with the same probability whatever z is: p(x | z) = p(x), the posterior is the prior."""
    with torch.no_grad():
        model.decoder[-1].weight.zero_()
        model.decoder[-1].bias.fill_(math.log(pixel_probability / (1 - pixel_probability)))


def test_reparameterized_draws_come_from_the_given_generator():
    mu, logvar = torch.zeros(3, 2), torch.zeros(3, 2)
    first = vae.reparameterize(mu, logvar, torch.Generator().manual_seed(5))
    again = vae.reparameterize(mu, logvar, torch.Generator().manual_seed(5))
    other = vae.reparameterize(mu, logvar, torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(first, torch.randn(3, 2, generator=torch.Generator().manual_seed(5))), "z = 0 + 1 * eps"


def test_reparameterized_noise_takes_the_dtype_and_device_of_the_mean():
    """A float64 model gets float64 noise (not float32 noise widened); on a GPU the noise sits beside mu."""
    mu = torch.zeros(3, 2, dtype=torch.float64)
    z = vae.reparameterize(mu, torch.zeros_like(mu), torch.Generator().manual_seed(5))
    expected = torch.randn(3, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert z.dtype == torch.float64 and torch.equal(z, expected)
    assert vae.reparameterize(mu.to("meta"), mu.to("meta")).device.type == "meta"


def test_with_a_vanishing_posterior_variance_the_elbo_is_log_p_x_at_the_mean_minus_the_kl():
    """sigma -> 0 makes the one-sample bound deterministic: z = mu, so every part is known in closed form."""
    torch.manual_seed(0)
    model = vae.VAE(z_dim=3, hidden=16).double()
    with torch.no_grad():
        model.encoder[-1].weight[3:].zero_()  # the log-variance rows: log sigma^2 = -40 for every image
        model.encoder[-1].bias[3:].fill_(-40.0)
    x = _binary_images(5)
    mu = model.encode(x)[0]
    logits = model.decode(mu)
    log_p_x_given_mu = (x * logits - torch.nn.functional.softplus(logits)).sum(-1)
    kl = 0.5 * (math.exp(-40.0) + mu.pow(2) + 40.0 - 1.0).sum(-1)  # (sigma^2 + mu^2 - log sigma^2 - 1) / 2
    parts = model.elbo_terms(x)
    assert torch.allclose(parts.reconstruction, log_p_x_given_mu, rtol=0, atol=1e-6)
    assert torch.allclose(parts.kl, kl, rtol=0, atol=1e-9)
    assert torch.allclose(parts.elbo, log_p_x_given_mu - kl, rtol=0, atol=1e-6)
    assert model(x).item() == pytest.approx(-(log_p_x_given_mu - kl).mean().item(), abs=1e-6), "loss = -mean ELBO"


def test_binary_samples_are_bernoulli_draws_of_the_decoded_means():
    model = vae.VAE(z_dim=2, hidden=8)
    _decoder_that_ignores_z(model, 0.3)
    means = model.sample(200, generator=torch.Generator().manual_seed(0))
    draws = model.sample(200, generator=torch.Generator().manual_seed(0), binary=True)
    assert torch.allclose(means, torch.full_like(means, 0.3))
    assert draws.mean().item() == pytest.approx(0.3, abs=0.005)  # 156,800 draws: standard error 0.0012


def test_one_importance_sample_is_one_log_weight_log_p_x_z_plus_log_p_z_minus_log_q_z():
    model = _one_dimensional_vae(q_mean=0.5, q_var=0.25)
    x = _binary_images(2)
    estimate = vae.log_likelihood(model, x, k=1, generator=torch.Generator().manual_seed(4))
    z = 0.5 + 0.5 * torch.randn(1, 2, 1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)[0]  # (2, 1)
    with torch.no_grad():
        log_px_z = torch.distributions.Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
    log_pz = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_qz = (-0.5 * ((z - 0.5) / 0.5) ** 2 - math.log(0.5) - 0.5 * math.log(2 * math.pi)).sum(-1)
    assert torch.allclose(estimate, log_px_z + log_pz - log_qz, rtol=0, atol=1e-9)


def test_the_estimate_does_not_depend_on_how_the_samples_are_blocked():
    """The k draws come from the generator in the same order whatever the block size: 5 images with
    123 samples make blocks of 1, 2, 3, 5 and 123 samples, whose draws (5 to 615 numbers) are neither
    all under 16 numbers nor multiples of 16 (where torch's normal draws happen to agree)."""
    model = _one_dimensional_vae()
    x = _binary_images(5)
    estimates = [vae.log_likelihood(model, x, k=123, chunk_rows=rows, generator=torch.Generator().manual_seed(12))
                 for rows in (5, 10, 15, 25, 10_000)]  # fmt: skip
    for other in estimates[1:]:
        assert torch.allclose(other, estimates[0], rtol=0, atol=1e-10)


def test_every_estimator_is_exact_when_the_decoder_ignores_z():
    """Then p(x | z) = p(x) for every z: any average of weights p(x | z) p(z) / q(z) with q = p is p(x) itself."""
    model = vae.VAE(z_dim=2, hidden=8).double()
    _decoder_that_ignores_z(model, 0.2)
    with torch.no_grad():
        model.encoder[-1].weight.zero_()
        model.encoder[-1].bias.zero_()  # q(z | x) = N(0, I) = p(z)
    x = _binary_images(5)
    ones = x.sum(-1)
    exact = ones * math.log(0.2) + (784 - ones) * math.log(0.8)
    assert torch.allclose(vae.log_likelihood(model, x, k=7, chunk_rows=10), exact, rtol=0, atol=1e-8)
    assert torch.allclose(vae.dataset_log_likelihood(model, x, k=3, batch_size=2), exact, rtol=0, atol=1e-8)
    assert torch.allclose(vae.prior_log_likelihood(model, x, samples=7, chunk=3), exact, rtol=0, atol=1e-8)


def test_the_data_set_estimate_is_the_estimate_of_each_batch_with_k_samples():
    model = _one_dimensional_vae()
    x = _binary_images(4)
    torch.manual_seed(7)
    whole = vae.dataset_log_likelihood(model, x, k=2, batch_size=4)
    torch.manual_seed(7)
    assert torch.equal(whole, vae.log_likelihood(model, x, k=2))


def test_the_naive_prior_estimate_lands_on_the_exact_log_likelihood_of_a_one_dimensional_latent():
    """In one dimension prior samples do cover the posterior, so the naive estimate converges (slowly)."""
    model = _one_dimensional_vae()
    x = _binary_images(2)
    torch.manual_seed(0)
    naive = vae.prior_log_likelihood(model, x, samples=8000)
    assert torch.allclose(naive, _exact_log_likelihood(model, x), atol=0.1)


def test_the_reparameterization_estimate_is_unbiased_for_the_exact_gradient():
    """d/d(mu, log sigma^2) of E_q[log p(x | z)] by quadrature (autograd through the integral), against
    the mean of n single-sample estimates: within 5 standard errors."""
    model = _one_dimensional_vae(q_mean=0.3, q_var=0.25)
    x = _binary_images(1)[0]
    mu = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor(math.log(0.25), dtype=torch.float64, requires_grad=True)
    z = torch.linspace(-6, 6, 12_001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        log_px_z = _log_p_x_given_z_on_a_grid(model, x[None], z)[:, 0]
    q = torch.exp(-0.5 * (z[:, 0] - mu) ** 2 / logvar.exp()) / torch.sqrt(2 * math.pi * logvar.exp())
    expected = torch.stack(torch.autograd.grad((q * log_px_z).sum() * (z[1, 0] - z[0, 0]), (mu, logvar)))
    grads = vae.reconstruction_gradients(model, x, 20_000, "reparameterization", torch.Generator().manual_seed(0))
    assert grads.shape == (20_000, 2)
    standard_error = grads.std(0) / math.sqrt(len(grads))  # about 0.2 and 0.08 here
    assert ((grads.mean(0) - expected).abs() < 5 * standard_error).all(), (grads.mean(0), expected)


def test_each_single_sample_gradient_estimate_by_hand():
    """With z = mu + sigma eps and f(z) = log p(x | z): reparameterization gives (f'(z), f'(z) sigma eps / 2),
    the score function gives f(z) (d/dmu, d/dlog sigma^2) log q(z) = f(z) ((z - mu) / sigma^2,
    (z - mu)^2 / (2 sigma^2) - 1/2). The eps are the generator's first standard normal draws, in the
    model's dtype (float64 here: float32 noise would cost the estimates half their digits)."""
    model = _one_dimensional_vae(q_mean=0.3, q_var=0.25)
    x = _binary_images(1)
    mu, sigma = 0.3, 0.5
    eps = torch.randn(4, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    z = (mu + sigma * eps).requires_grad_(True)
    f = _log_p_x_given_z_on_a_grid(model, x, z)[:, 0]
    (f_prime,) = torch.autograd.grad(f.sum(), z)
    f, f_prime, z = f.detach(), f_prime[:, 0], z.detach()[:, 0]
    reparameterization = torch.stack([f_prime, f_prime * sigma * eps[:, 0] / 2], dim=-1)
    score_function = torch.stack([f * (z - mu) / sigma**2, f * ((z - mu) ** 2 / (2 * sigma**2) - 0.5)], dim=-1)
    for estimator, expected in [("reparameterization", reparameterization), ("score_function", score_function)]:
        got = vae.reconstruction_gradients(model, x[0], 4, estimator, torch.Generator().manual_seed(2))
        assert torch.allclose(got, expected, rtol=1e-12, atol=0), estimator


def test_gradient_estimates_have_one_row_per_sample_and_a_column_per_mu_and_logvar():
    model = vae.VAE(z_dim=3, hidden=4)
    for estimator in ("reparameterization", "score_function"):
        assert vae.reconstruction_gradients(model, torch.zeros(784), 5, estimator).shape == (5, 6)


def test_the_estimators_draw_their_samples_on_the_models_device():
    """On a GPU the latent samples must sit beside the weights; the 'meta' device checks that without one."""
    model, x = vae.VAE(z_dim=2, hidden=4).to("meta"), torch.zeros(3, 784, device="meta")
    assert vae.log_likelihood(model, x, k=2).device.type == "meta"
    assert vae.prior_log_likelihood(model, x, samples=2).device.type == "meta"
    for estimator in ("reparameterization", "score_function"):
        assert vae.reconstruction_gradients(model, x[0], 2, estimator).device.type == "meta"


def test_an_unknown_gradient_estimator_is_refused():
    with pytest.raises(ValueError, match="^unknown estimator 'reinforce'$"):
        vae.reconstruction_gradients(vae.VAE(z_dim=2, hidden=4), torch.zeros(784), 3, "reinforce")


def test_the_latent_grid_is_the_normal_quantiles_of_evenly_spaced_probabilities():
    from statistics import NormalDist

    grid = vae.latent_grid(n=3, low=0.1, high=0.9)
    q = [NormalDist().inv_cdf(p) for p in (0.1, 0.5, 0.9)]  # -1.2816, 0, 1.2816
    # rows of the picture from top (high z2) to bottom, z1 growing to the right within a row
    expected = [[q[0], q[2]], [q[1], q[2]], [q[2], q[2]],
                [q[0], q[1]], [q[1], q[1]], [q[2], q[1]],
                [q[0], q[0]], [q[1], q[0]], [q[2], q[0]]]  # fmt: skip
    assert grid.tolist() == [pytest.approx(row, abs=1e-5) for row in expected]
    default = vae.latent_grid()
    assert default.shape == (400, 2)
    assert default[0].tolist() == pytest.approx([NormalDist().inv_cdf(0.05), NormalDist().inv_cdf(0.95)], abs=1e-5)


def test_posterior_means_of_many_images_are_the_encoder_means_batch_by_batch():
    model = vae.VAE(z_dim=3, hidden=8)
    x = _binary_images(7, torch.float32)
    means = vae.encode_means(model, x, batch_size=3)
    assert means.shape == (7, 3) and not means.requires_grad
    assert torch.allclose(means, model.encode(x)[0])


def test_the_metrics_of_one_image_are_valid_json_without_a_standard_error():
    import json

    model = vae.VAE(z_dim=2, hidden=8)
    metrics = vae.test_set_metrics(model, vae.VAESettings.quick(z_dim=2, hidden=8), k=2, n=1, cache=False)
    assert metrics["n"] == 1 and metrics["ll_sem"] is None
    json.dumps(metrics, allow_nan=False)
