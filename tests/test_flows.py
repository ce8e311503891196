"""Specification of gengen_lib.flows: invertibility, exact log-determinants, bits/dim."""

from __future__ import annotations

import math

import pytest
import torch

from gengen_lib import flows
from gengen_lib.densities import standard_normal_log_prob

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)


def randomized(model: torch.nn.Module, std: float = 0.3) -> torch.nn.Module:
    """Give every parameter random values (fresh couplings start as the identity)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)
    return model


def small_flow(learned_scale=True, logit=False, dtype=torch.float64):
    model = flows.RealNVP(n_pairs=2, hidden=16, learned_scale=learned_scale, dim=6, image_shape=None,
                          logit_alpha=1e-3 if logit else None)
    return randomized(model).to(dtype)


def autograd_log_det(f, x):
    """log|det J| of f at each row of x, from the full autograd Jacobian."""
    return torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(f, row))[1] for row in x])


def test_masks_are_complementary_checkerboards():
    a, b = flows.checkerboard_mask((28, 28), 0), flows.checkerboard_mask((28, 28), 1)
    assert torch.equal(a + b, torch.ones(784)) and a.sum() == 392
    grid = a.reshape(28, 28)
    assert grid[0, 0] == 1 and grid[0, 1] == 0 and grid[1, 0] == 0, "neighbours get different masks"
    model = flows.RealNVP(n_pairs=2, hidden=8)
    masks = [c.mask for c in model.couplings]
    assert all(torch.equal(m1 + m2, torch.ones(784)) for m1, m2 in zip(masks[::2], masks[1::2], strict=True))


def test_a_fresh_coupling_is_the_identity():
    model = flows.RealNVP(n_pairs=1, hidden=8, dim=4, image_shape=None, logit_alpha=None)
    x = torch.randn(5, 4)
    z, log_det = model(x)
    assert torch.equal(z, x) and torch.equal(log_det, torch.zeros(5))


@pytest.mark.parametrize("learned_scale", [True, False])
def test_every_coupling_log_det_equals_slogdet_of_its_jacobian(learned_scale):
    model = small_flow(learned_scale)
    x = torch.randn(3, 6, dtype=torch.float64)
    for layer in model.couplings:
        _, log_det = layer(x)
        assert torch.allclose(log_det, autograd_log_det(lambda v, layer=layer: layer(v[None])[0][0], x), atol=1e-10)
        x = layer(x)[0]


def test_the_whole_flow_log_det_equals_slogdet_including_the_logit_step():
    model = small_flow(logit=True)
    x = torch.rand(3, 6, dtype=torch.float64)
    _, log_det = model(x)
    assert torch.allclose(log_det, autograd_log_det(lambda v: model(v[None])[0][0], x), atol=1e-9)


def test_the_fixed_scale_flow_is_volume_preserving():
    model = small_flow(learned_scale=False)
    _, log_det = model(torch.randn(4, 6, dtype=torch.float64))
    assert torch.equal(log_det, torch.zeros(4, dtype=torch.float64))


def test_log_prob_is_the_base_density_plus_the_log_det():
    model = small_flow()
    x = torch.randn(4, 6, dtype=torch.float64)
    z, log_det = model(x)
    assert torch.allclose(model.log_prob(x), standard_normal_log_prob(z) + log_det)


def test_data_to_noise_to_data_is_exact_in_float32():
    model = randomized(flows.RealNVP(n_pairs=4, hidden=64), std=0.05)
    x = torch.rand(8, 784) * 0.98 + 0.01
    z, _ = model(x)
    assert (model.inverse(z) - x).abs().max() < 1e-5


def test_sampling_inverts_the_layers_in_reverse_order():
    model = small_flow(logit=True)
    g = torch.Generator().manual_seed(0)
    x = model.sample(5, generator=g)
    z = torch.randn(5, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    manual = z
    for layer in reversed(model.layers()):
        manual = layer.inverse(manual)
    assert x.shape == (5, 6) and torch.allclose(x, manual)
    assert torch.allclose(model(x)[0], z, atol=1e-8)


def test_temperature_scales_the_base_samples():
    model = flows.RealNVP(n_pairs=1, hidden=4, dim=3, image_shape=None, logit_alpha=None)  # identity
    hot = model.sample(20_000, temperature=2.0, generator=torch.Generator().manual_seed(0))
    assert hot.std().item() == pytest.approx(2.0, rel=0.03)


def test_a_uniform_density_on_256_levels_scores_exactly_8_bits_per_dim():
    assert flows.bits_per_dim(torch.zeros(3)).tolist() == [8.0, 8.0, 8.0]
    log_p = torch.tensor([784 * math.log(2.0)])  # density 2^784 on [0, 1/2]^784: one bit less per pixel
    assert flows.bits_per_dim(log_p).item() == pytest.approx(7.0)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="must be positive"):
        flows.RealNVP(n_pairs=0)
    with pytest.raises(ValueError, match="does not have 10 pixels"):
        flows.RealNVP(dim=10)


def test_the_density_of_a_random_two_dimensional_flow_integrates_to_one():
    model = randomized(flows.RealNVP(n_pairs=2, hidden=16, dim=2, image_shape=None, logit_alpha=None), std=0.4)
    model = model.double()
    grid = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    x, y = torch.meshgrid(grid, grid, indexing="xy")
    with torch.no_grad():
        density = model.log_prob(torch.stack([x.flatten(), y.flatten()], -1)).exp()
    assert (density.sum() * (grid[1] - grid[0]) ** 2).item() == pytest.approx(1.0, abs=2e-3)


def test_inversion_is_exact_with_non_trivial_weights_on_images():
    model = randomized(flows.RealNVP(n_pairs=2, hidden=32), std=0.05).double()
    x = torch.rand(4, 784, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.98 + 0.01
    z, _ = model(x)
    assert (z - torch.logit(x)).abs().max() > 0.1, "the couplings must do something"
    assert (model.inverse(z) - x).abs().max() < 1e-9


def test_bits_per_dim_end_to_end_against_a_closed_form():
    """A fresh flow is the logit step alone: log p(y) = log N(logit(p); 0, I) + log-det of the logit."""
    alpha = 1e-6
    model = flows.RealNVP(n_pairs=1, hidden=8, logit_alpha=alpha).double()
    y = torch.rand(3, 784, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    p = alpha + (1 - 2 * alpha) * y
    s = torch.log(p) - torch.log1p(-p)
    log_p = (-0.5 * s**2 - 0.5 * math.log(2 * math.pi)).sum(-1) + (
        784 * math.log(1 - 2 * alpha) - (torch.log(p) + torch.log1p(-p)).sum(-1)
    )
    expected = (784 * math.log(256) - log_p) / (784 * math.log(2))
    assert torch.allclose(flows.bits_per_dim(model.log_prob(y)), expected, rtol=1e-12)


def test_dequantized_bits_per_dim_averages_over_images_with_fresh_noise():
    model = flows.RealNVP(n_pairs=1, hidden=8).double()
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    y = ((images.reshape(5, -1).double() + torch.rand(5, 784, generator=g, dtype=torch.float32).double()) / 256)
    value = flows.dequantized_bits_per_dim(model, images, torch.Generator().manual_seed(1), batch_size=2)
    assert value == pytest.approx(flows.bits_per_dim(model.log_prob(y)).mean().item(), rel=1e-4)


def test_a_checkerboard_on_a_non_square_image_by_hand():
    assert flows.checkerboard_mask((2, 3), 0).tolist() == [1, 0, 1, 0, 1, 0]
    assert flows.checkerboard_mask((3, 2), 1).tolist() == [0, 1, 1, 0, 0, 1]
    assert flows.checkerboard_mask((2, 2)).tolist() == [1.0, 0.0, 0.0, 1.0], "by default pixel (0, 0) is kept"


def test_an_image_flow_uses_checkerboards_of_its_shape():
    model = flows.RealNVP(n_pairs=1, hidden=4, dim=6, image_shape=(3, 2))
    assert [c.mask.tolist() for c in model.couplings] == [[1, 0, 0, 1, 1, 0], [0, 1, 1, 0, 0, 1]]


def test_the_default_flow_is_the_reports():
    """4 pairs of checkerboard couplings with 1024-wide conditioners, learned scales, logit step alpha = 1e-6."""
    with torch.device("meta"):  # no memory for its 28 million parameters
        model = flows.RealNVP()
    assert model.config == flows.FlowArchitecture(784, 4, 1024, True, 1e-6, (28, 28))
    assert all(c.learned_scale and c.trunk[0].out_features == 1024 for c in model.couplings)
    assert len(model.couplings) == 8 and model.preprocess.alpha == 1e-6


def test_the_flow_runs_on_the_device_of_its_input():
    """On a GPU the running log-determinant must start beside x; the 'meta' device checks that without one."""
    model = flows.RealNVP(n_pairs=1, hidden=4, dim=6, image_shape=None, logit_alpha=None).to("meta")
    assert model(torch.zeros(2, 6, device="meta"))[1].device.type == "meta"


def test_vector_masks_alternate_by_index():
    assert flows.alternating_mask(5).tolist() == [1.0, 0.0, 1.0, 0.0, 1.0], "by default index 0 is kept"
    assert flows.alternating_mask(5, 0).tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert flows.alternating_mask(5, 1).tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    model = flows.RealNVP(n_pairs=2, hidden=4, dim=4, image_shape=None, logit_alpha=None)
    assert [c.mask.tolist() for c in model.couplings] == [[1, 0, 1, 0], [0, 1, 0, 1]] * 2


def test_the_conditioner_is_a_relu_mlp_with_a_shared_trunk_and_two_heads():
    """Three hidden ReLU layers: two shared by s and t, one in each head; scales are learned by default."""
    coupling = flows.AffineCoupling(torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0]), hidden=8)

    def layers(net):
        return [f"Linear({m.in_features}, {m.out_features})" if isinstance(m, torch.nn.Linear) else type(m).__name__
                for m in net]  # fmt: skip

    assert layers(coupling.trunk) == ["Linear(3, 8)", "ReLU", "Linear(8, 8)", "ReLU"]
    assert layers(coupling.t_head) == ["Linear(8, 8)", "ReLU", "Linear(8, 3)"]
    assert coupling.learned_scale and layers(coupling.s_head) == ["Linear(8, 8)", "ReLU", "Linear(8, 3)"]


def test_a_coupling_reads_the_coordinates_where_the_mask_is_one_and_writes_the_others():
    coupling = flows.AffineCoupling(torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0]), hidden=4)
    assert coupling.kept_index.tolist() == [0, 3, 4] and coupling.free_index.tolist() == [1, 2, 5]
    randomized(coupling)
    x = torch.randn(2, 6)
    y, _ = coupling(x)
    assert torch.equal(y[:, [0, 3, 4]], x[:, [0, 3, 4]]) and not torch.allclose(y[:, [1, 2, 5]], x[:, [1, 2, 5]])


def test_a_checkpoint_holds_the_mask_not_the_indices_derived_from_it():
    """The shipped weights were saved without index buffers: a persistent one would break loading them."""
    keys = set(flows.RealNVP(n_pairs=1, hidden=4).state_dict())
    assert "couplings.0.mask" in keys and not any("index" in key for key in keys)


@pytest.mark.parametrize("mask, kept, free", [([1.0] * 4, 4, 0), ([0.0] * 4, 0, 4)])
def test_a_mask_without_kept_or_free_coordinates_is_refused(mask, kept, free):
    message = f"^a coupling mask needs kept and free coordinates, got {kept} kept and {free} free$"
    with pytest.raises(ValueError, match=message):
        flows.AffineCoupling(torch.tensor(mask), hidden=4)


def test_the_smallest_flow_is_allowed_and_a_zero_width_one_is_refused():
    assert len(flows.RealNVP(n_pairs=1, hidden=1).couplings) == 2
    with pytest.raises(ValueError, match="^n_pairs and hidden must be positive, got 4 and 0$"):
        flows.RealNVP(hidden=0)


def test_image_samples_are_clamped_to_the_unit_interval():
    """At a high temperature the logit step's inverse overshoots [0, 1] by alpha: the images are clamped."""
    model = flows.RealNVP(n_pairs=1, hidden=4)
    x = model.sample(50, temperature=1e3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (50, 1, 28, 28)
    assert x.min().item() == 0.0 and x.max().item() == 1.0


@pytest.mark.parametrize("options", [{"logit_alpha": None}, {"image_shape": None}])
def test_a_flow_without_the_logit_step_or_an_image_shape_returns_raw_points(options):
    model = flows.RealNVP(n_pairs=1, hidden=4, **options)
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 784)


def test_the_flow_is_built_from_the_run_settings():
    settings = flows.FlowSettings(n_pairs=1, hidden=8, learned_scale=False, logit_alpha=1e-3)
    model = flows.build_flow(settings)
    assert model.config == flows.FlowArchitecture(784, 1, 8, False, 1e-3, (28, 28))
    assert model.preprocess.alpha == 1e-3 and not model.couplings[0].learned_scale


def test_dequantized_images_are_moved_to_the_models_device_and_dtype():
    class RecordsItsInput(torch.nn.Module):
        """Weights on the 'meta' device in float64 (standing in for a GPU model); log-densities on the CPU."""

        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1, device="meta", dtype=torch.float64))
            self.seen = set()

        def log_prob(self, y):
            self.seen.add((y.device.type, y.dtype))
            return torch.zeros(len(y))

    model = RecordsItsInput()
    images = torch.zeros(3, 28, 28, dtype=torch.uint8)
    assert flows.dequantized_bits_per_dim(model, images) == pytest.approx(8.0)
    assert model.seen == {("meta", torch.float64)}

