"""Specification of gengen_lib.gan: architectures, losses, interpolation, one training step."""

from __future__ import annotations

import math

import pytest
import torch

from gengen_lib import gan

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)


def test_the_generator_maps_100_d_noise_to_images_in_minus_one_to_one():
    g = gan.Generator()
    linears = [m for m in g.net if isinstance(m, torch.nn.Linear)]
    norms = [m for m in g.net if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(linears) == 5 and linears[0].in_features == 100 and linears[-1].out_features == 784
    assert len(norms) == 3, "batch norm on every hidden layer but the first"
    x = g(torch.randn(16, 100) * 10)
    assert x.shape == (16, 784) and x.min() >= -1 and x.max() <= 1


def test_the_discriminator_has_three_layers_and_optional_dropout():
    d = gan.Discriminator(dropout=0.3)
    assert sum(isinstance(m, torch.nn.Linear) for m in d.net) == 3
    assert all(m.p == 0.3 for m in d.net if isinstance(m, torch.nn.Dropout))
    assert d(torch.rand(5, 784)).shape == (5,)
    d.eval()
    x = torch.rand(5, 784)
    assert torch.equal(d(x), d(x)), "no dropout noise in eval mode"


def test_losses_at_the_equilibrium_are_log_4_and_log_2():
    half = torch.zeros(8)  # logits of D = 1/2
    assert gan.discriminator_loss(half, half, torch.ones(8)).item() == pytest.approx(math.log(4))
    assert gan.generator_loss(half, "non_saturating").item() == pytest.approx(math.log(2))
    assert gan.generator_loss(half, "minimax").item() == pytest.approx(-math.log(2))


def test_the_non_saturating_gradient_is_large_where_the_minimax_one_vanishes():
    logit = torch.tensor([-6.0], requires_grad=True)  # D(G(z)) = 0.0025: D easily spots the fake
    (ns,) = torch.autograd.grad(gan.generator_loss(logit, "non_saturating"), logit)
    (mm,) = torch.autograd.grad(gan.generator_loss(logit, "minimax"), logit)
    assert abs(ns.item()) > 0.99 and abs(mm.item()) < 0.003


def test_real_target_schemes_are_named_for_what_they_do():
    assert torch.equal(gan.real_targets("one", 3), torch.ones(3))
    assert torch.allclose(gan.real_targets("smooth", 3), torch.full((3,), 0.9))
    noisy = gan.real_targets("noisy", 10_000, generator=torch.Generator().manual_seed(0))
    assert noisy.min() >= 0.7 and noisy.max() <= 1.2 and noisy.mean().item() == pytest.approx(0.95, abs=0.01)
    with pytest.raises(ValueError, match="unknown real-target scheme"):
        gan.real_targets("two", 3)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown generator loss"):
        gan.GANSettings(loss="wasserstein")
    with pytest.raises(ValueError, match="dropout must be in"):
        gan.GANSettings(dropout=1.5)


def test_interpolations_hit_their_endpoints_on_batches_of_t():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(100, generator=g), torch.randn(100, generator=g)
    t = torch.linspace(0, 1, 7)
    for interpolate in (gan.lerp, gan.slerp):
        path = interpolate(z0, z1, t)
        assert path.shape == (7, 100)
        assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)


def test_slerp_keeps_the_norm_and_lerp_shrinks_it():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(100, generator=g), torch.randn(100, generator=g)
    z1 = z1 / z1.norm() * z0.norm()
    t = torch.linspace(0, 1, 11)
    assert torch.allclose(gan.slerp(z0, z1, t).norm(dim=-1), z0.norm().expand(11), rtol=1e-5)
    assert gan.lerp(z0, z1, 0.5).norm() < 0.8 * z0.norm(), "the midpoint of two near-orthogonal vectors is short"


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    z = torch.randn(10)
    path = gan.slerp(z, 2 * z, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.isfinite(path).all()
    assert torch.allclose(path, gan.lerp(z, 2 * z, torch.tensor([0.0, 0.5, 1.0])), atol=1e-5)


def test_one_discriminator_step_lowers_its_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = gan.GAN(dropout=0.0)
    opt = torch.optim.Adam(model.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real, z = torch.rand(64, 784) * 2 - 1, torch.randn(64, 100)
    with torch.no_grad():
        fake = model.generator(z)

    def loss():
        return gan.discriminator_loss(model.discriminator(real), model.discriminator(fake), torch.ones(64))

    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    assert loss().item() < before.item()


def test_a_short_run_trains_both_players(tmp_path):
    settings = gan.GANSettings(epochs=1, train_subset=640, real_target="smooth")
    model, history = gan.load_or_train_gan(settings, out_dir=tmp_path, quiet=True)
    assert len(history.steps["d_loss"]) == 10
    assert {"start", "end"} <= set(history.snapshots)
    samples = model.sample(8)
    assert samples.shape == (8, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1


def test_the_discriminator_loss_rewards_calling_real_images_real_at_non_zero_logits():
    """Binary cross-entropy written out by hand: real images have target 1, fakes target 0."""
    real, fake = torch.tensor([2.0, 0.5, 3.0]), torch.tensor([-1.0, -2.5, 0.3])
    by_hand = (-torch.log(torch.sigmoid(real)) - torch.log(1 - torch.sigmoid(fake))).mean()
    loss = gan.discriminator_loss(real, fake, torch.ones(3))
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)
    swapped = gan.discriminator_loss(fake, real, torch.ones(3))
    assert swapped > loss + 1.0, "calling fakes real must cost more"


def test_the_generator_losses_at_non_zero_logits():
    fake = torch.tensor([-3.0, 0.0, 2.0])
    d = torch.sigmoid(fake)
    assert gan.generator_loss(fake, "non_saturating").item() == pytest.approx((-torch.log(d)).mean().item(), rel=1e-5)
    assert gan.generator_loss(fake, "minimax").item() == pytest.approx(torch.log(1 - d).mean().item(), rel=1e-5)


@pytest.mark.parametrize("kind", gan.REAL_TARGETS)
def test_real_targets_are_made_on_the_requested_device(kind):
    """On a GPU the targets must sit beside the logits; the 'meta' device checks that without one."""
    assert gan.real_targets(kind, 3, device="meta").device.type == "meta"


def test_noisy_targets_are_drawn_from_the_given_generator():
    first = gan.real_targets("noisy", 5, generator=torch.Generator().manual_seed(1))
    again = gan.real_targets("noisy", 5, generator=torch.Generator().manual_seed(1))
    other = gan.real_targets("noisy", 5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_the_default_generator_loss_is_the_non_saturating_one():
    logits = torch.tensor([-2.0, 0.5, 3.0])
    by_hand = sum(-math.log(1 / (1 + math.exp(-v))) for v in logits.tolist()) / 3  # mean of -log D(G(z))
    assert gan.generator_loss(logits).item() == pytest.approx(by_hand, rel=1e-6)


def test_unknown_loss_and_target_names_are_refused_with_the_choices():
    unknown_loss = "^unknown generator loss 'wasserstein'; choose one of non_saturating, minimax$"
    unknown_target = "^unknown real-target scheme 'two'; choose one of one, smooth, noisy$"
    with pytest.raises(ValueError, match=unknown_loss):
        gan.generator_loss(torch.zeros(2), "wasserstein")
    with pytest.raises(ValueError, match=unknown_loss):
        gan.GANSettings(loss="wasserstein")
    with pytest.raises(ValueError, match=unknown_target):
        gan.real_targets("two", 3)
    with pytest.raises(ValueError, match=unknown_target):
        gan.GANSettings(real_target="two")


def test_dropout_may_be_zero_but_not_one():
    assert gan.GANSettings(dropout=0.0).dropout == 0.0  # no dropout at all is a valid setting
    with pytest.raises(ValueError, match=r"^dropout must be in \[0, 1\), got 1.0$"):
        gan.GANSettings(dropout=1.0)


def _layer_kinds(net: torch.nn.Sequential) -> list[str]:
    def kind(m):
        if isinstance(m, torch.nn.Linear):
            return f"Linear({m.in_features}, {m.out_features})"
        if isinstance(m, torch.nn.LeakyReLU):
            return f"LeakyReLU({m.negative_slope})"
        if isinstance(m, torch.nn.Dropout):
            return f"Dropout({m.p})"
        return type(m).__name__ + (f"({m.num_features})" if isinstance(m, torch.nn.BatchNorm1d) else "")

    return [kind(m) for m in net]


def test_the_generator_and_discriminator_are_the_reports_networks():
    """The report's layers: G 100-128-256-512-1024-784 with LeakyReLU(0.2), batch norm after every hidden
    layer but the first and tanh; D 784-512-256-1 with LeakyReLU(0.2) and dropout 0.3 after each hidden layer."""
    assert _layer_kinds(gan.GAN().generator.net) == [
        "Linear(100, 128)", "LeakyReLU(0.2)",
        "Linear(128, 256)", "BatchNorm1d(256)", "LeakyReLU(0.2)",
        "Linear(256, 512)", "BatchNorm1d(512)", "LeakyReLU(0.2)",
        "Linear(512, 1024)", "BatchNorm1d(1024)", "LeakyReLU(0.2)",
        "Linear(1024, 784)", "Tanh",
    ]  # fmt: skip
    expected_d = ["Linear(784, 512)", "LeakyReLU(0.2)", "Dropout(0.3)",
                  "Linear(512, 256)", "LeakyReLU(0.2)", "Dropout(0.3)", "Linear(256, 1)"]  # fmt: skip
    assert _layer_kinds(gan.GAN().discriminator.net) == expected_d
    assert _layer_kinds(gan.Discriminator().net) == expected_d


def test_samples_map_the_tanh_output_from_minus_one_to_one_onto_zero_to_one():
    model = gan.GAN(z_dim=4)
    with torch.no_grad():
        model.generator.net[-2].weight.zero_()
        model.generator.net[-2].bias.fill_(math.atanh(0.5))  # every pixel tanh(.) = 0.5
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 28, 28) and torch.allclose(x, torch.full_like(x, 0.75))


def test_fake_images_are_labelled_zero_whatever_the_real_targets():
    """Label smoothing is one-sided: the real targets may be 0.9 or noisy, the fake target stays 0."""
    real_logits, fake_logits = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 1.0, 0.0])
    for targets in (torch.ones(3), torch.full((3,), 0.9), torch.tensor([0.7, 1.2, 0.95])):
        real_part = torch.nn.functional.binary_cross_entropy_with_logits(real_logits, targets)
        fake_part = torch.nn.functional.softplus(fake_logits).mean()  # BCE against 0: -log(1 - sigmoid(l))
        loss = gan.discriminator_loss(real_logits, fake_logits, targets)
        assert loss.item() == pytest.approx((real_part + fake_part).item(), rel=1e-6), targets


def _training_gan() -> gan.GAN:
    """A GAN in training mode whose BatchNorm has seen one batch (so its running statistics are not 0 and 1)."""
    torch.manual_seed(0)
    model = gan.GAN(z_dim=100)
    model.train()
    with torch.no_grad():
        model.generator(torch.randn(32, 100) * 3)
    return model


def test_sampling_uses_the_running_statistics_so_a_code_gives_the_same_image_in_any_batch():
    model = _training_gan()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    z_rows = torch.randn(64, 100, generator=torch.Generator().manual_seed(5))
    big = model.sample(64, generator=torch.Generator().manual_seed(5))
    small = model.sample(8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(z_rows[:8], torch.randn(8, 100, generator=torch.Generator().manual_seed(5)))
    assert torch.allclose(small, big[:8], atol=1e-6), "an image must not depend on the other codes in its batch"
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"sampling changed {key}"
    assert model.generator.training, "sampling gives the model back in the mode it found it"
