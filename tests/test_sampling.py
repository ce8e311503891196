"""One sampling interface for the three families: model.sample(n, *, generator=None, ...)
returns images (n, 1, 28, 28) with values in [0, 1], reproducible from a generator."""

import pytest
import torch

from gengen_lib import flows, gan, vae

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)

FAMILIES = {
    "vae means": (lambda: vae.VAE(z_dim=4, hidden=16), {}),
    "vae binary draws": (lambda: vae.VAE(z_dim=4, hidden=16), {"binary": True}),
    "gan": (lambda: gan.GAN(z_dim=8), {}),
    "flow": (lambda: flows.RealNVP(n_pairs=1, hidden=8), {"temperature": 0.7}),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sample_returns_reproducible_images_in_the_unit_interval(family, dtype):
    build, options = FAMILIES[family]
    torch.manual_seed(0)
    model = build().to(dtype)
    for p in model.parameters():  # non-trivial weights, so the outputs are not constant
        p.data.normal_(0, 0.3)
    first = model.sample(5, generator=torch.Generator().manual_seed(1), **options)
    again = model.sample(5, generator=torch.Generator().manual_seed(1), **options)
    other = model.sample(5, generator=torch.Generator().manual_seed(2), **options)
    assert first.shape == (5, 1, 28, 28) and first.dtype == dtype
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_binary_draws_are_zeros_and_ones():
    model = vae.VAE(z_dim=4, hidden=16)
    draws = model.sample(4, generator=torch.Generator().manual_seed(0), binary=True)
    assert set(draws.unique().tolist()) <= {0.0, 1.0}


def test_a_non_image_flow_returns_its_points():
    model = flows.RealNVP(n_pairs=1, hidden=4, dim=2, image_shape=None, logit_alpha=None)
    assert model.sample(7, generator=torch.Generator().manual_seed(0)).shape == (7, 2)


@pytest.mark.parametrize("family", FAMILIES)
def test_samples_are_drawn_on_the_models_device(family):
    """On a GPU the noise must be drawn beside the weights; the 'meta' device checks that without one."""
    build, options = FAMILIES[family]
    assert build().to("meta").sample(2, **options).device.type == "meta"
