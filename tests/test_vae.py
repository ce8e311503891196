"""Specification of gengen_lib.vae: the bound, its parts and the likelihood estimators."""

from __future__ import annotations

import math

import pytest
import torch

from gengen_lib import vae
from gengen_lib.data import binarize


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
