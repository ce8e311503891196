"""Specification of the latent-space paths: lerp and the norm-interpolating slerp."""

import math

import pytest
import torch

from gengen_lib.latent import code_from_seed, lerp, slerp

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)


def pair_at_angle(theta: float, d: int = 100, norm: float = 10.0, dtype=torch.float32):
    """Two vectors of the same norm at angle theta, built in float64 and rounded to ``dtype``."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, d, generator=g, dtype=torch.float64)
    u = a / a.norm()
    w = b - (b @ u) * u
    w = w / w.norm()
    return (norm * u).to(dtype), (norm * (math.cos(theta) * u + math.sin(theta) * w)).to(dtype)


def test_endpoints_and_shapes():
    z0, z1 = pair_at_angle(1.0)
    t = torch.linspace(0, 1, 7)
    path = slerp(z0, z1, t)
    assert path.shape == (7, 100)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    assert slerp(z0, z1, 0.3).shape == (100,)


@pytest.mark.parametrize("theta", [0.0, 1e-6, 0.5, math.pi / 2, 3.0, math.pi - 1e-3, math.pi - 1e-6, math.pi])
def test_equal_norms_stay_on_the_sphere_at_every_angle_in_float32(theta):
    z0, z1 = pair_at_angle(theta)
    norms = slerp(z0, z1, torch.linspace(0, 1, 21)).norm(dim=-1)
    assert (norms / 10.0 - 1).abs().max() < 1e-5, f"norm drifts at theta = {theta}"


def test_antiparallel_endpoints_turn_through_an_orthogonal_direction_not_through_zero():
    z = torch.randn(50, generator=torch.Generator().manual_seed(1))
    mid = slerp(z, -z, 0.5)
    assert mid.norm().item() == pytest.approx(z.norm().item(), rel=1e-5)
    assert abs(mid @ z) / (mid.norm() * z.norm()) < 1e-5


def test_the_angle_grows_linearly_with_t():
    z0, z1 = pair_at_angle(2.0, dtype=torch.float64)
    path = slerp(z0, z1, torch.linspace(0, 1, 5))
    angles = torch.arccos(((path @ z0) / (path.norm(dim=-1) * z0.norm())).clamp(-1, 1)).tolist()
    assert angles == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0], abs=1e-6)


def test_norms_are_interpolated_linearly():
    z0, z1 = pair_at_angle(1.2, dtype=torch.float64)
    z1 = 3 * z1  # norms 10 and 30
    norms = slerp(z0, z1, torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)).norm(dim=-1)
    assert norms.tolist() == pytest.approx([10.0, 15.0, 20.0, 30.0])


def test_a_zero_endpoint_gives_the_straight_line_not_nan():
    z = torch.randn(8)
    t = torch.linspace(0, 1, 5)
    assert torch.allclose(slerp(torch.zeros(8), z, t), lerp(torch.zeros(8), z, t), atol=1e-6)
    assert torch.allclose(slerp(z, torch.zeros(8), t), lerp(z, torch.zeros(8), t), atol=1e-6)
    assert torch.equal(slerp(torch.zeros(8), torch.zeros(8), t), torch.zeros(5, 8))


def test_the_middle_of_a_linear_path_is_shorter_by_cos_of_half_the_angle():
    z0, z1 = pair_at_angle(math.pi / 2, dtype=torch.float64)
    assert lerp(z0, z1, 0.5).norm().item() == pytest.approx(10 * math.cos(math.pi / 4))


def test_a_batch_of_endpoint_pairs_is_interpolated_row_by_row():
    """(N, D) endpoints with a scalar t: each row is the path of its own pair (norms and angles per row)."""
    g = torch.Generator().manual_seed(2)
    z0 = torch.randn(3, 5, generator=g, dtype=torch.float64) * torch.tensor([[1.0], [4.0], [0.5]], dtype=torch.float64)
    z1 = torch.randn(3, 5, generator=g, dtype=torch.float64) * torch.tensor([[2.0], [1.0], [3.0]], dtype=torch.float64)
    for interpolate in (lerp, slerp):
        batch = interpolate(z0, z1, 0.3)
        assert batch.shape == (3, 5)
        for row in range(3):
            assert torch.allclose(batch[row], interpolate(z0[row], z1[row], 0.3), atol=1e-12)


def test_a_batch_of_antiparallel_pairs_turns_each_row_through_its_own_orthogonal_direction():
    """Every row's midpoint keeps that row's norm and is orthogonal to that row's endpoints."""
    z0 = torch.tensor([[3.0, 1.0, 2.0, 0.5], [0.1, 2.0, 1.0, 3.0], [1.0, 1.0, 0.2, 1.0]], dtype=torch.float64)
    mid = slerp(z0, -z0, 0.5)
    assert mid.shape == (3, 4)
    assert torch.allclose(mid.norm(dim=-1), z0.norm(dim=-1), rtol=1e-12)
    assert torch.allclose((mid * z0).sum(-1), torch.zeros(3, dtype=torch.float64), atol=1e-12)


def test_positions_take_the_endpoints_dtype_and_device():
    """A Python t = 0.1 must not be rounded to float32 on float64 codes; on a GPU the positions must move
    beside the codes."""
    z0, z1 = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    assert lerp(z0, z1, 0.1).tolist() == [0.1] * 3
    on_meta = torch.randn(2, 4).to("meta")  # a device that is not the CPU, without a GPU
    for interpolate in (lerp, slerp):
        assert interpolate(on_meta[0], on_meta[1], torch.linspace(0, 1, 3)).device.type == "meta"


def test_seed_s_is_the_first_standard_normal_draws_of_a_generator_seeded_with_s():
    code = code_from_seed(7, 100)
    assert code.shape == (100,) and code.dtype == torch.float32
    assert torch.equal(code, torch.randn(100, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(code, code_from_seed(7, 100)) and not torch.equal(code, code_from_seed(8, 100))


def pair_of_norms_2_and_1(theta: float, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """z0 = 2u and a unit z1 at angle theta from it (the shape of the endpoint bug once found)."""
    z0, z1 = pair_at_angle(theta, norm=1.0, dtype=torch.float64)
    return (2 * z0).to(dtype), z1.to(dtype)


ANGLES = [1e-8, 1e-7, 9.9e-7, 1e-6, 2e-6, 1e-4, 5e-3, 0.5, 3.0, math.pi - 5e-3, math.pi - 2e-6, math.pi - 1e-7]


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-13), (torch.float32, 3e-7)])
@pytest.mark.parametrize("theta", ANGLES)
def test_the_path_starts_on_z0_and_ends_on_z1_at_every_angle(theta, dtype, tolerance):
    z0, z1 = pair_of_norms_2_and_1(theta, dtype)
    path = slerp(z0, z1, torch.tensor([0.0, 1.0], dtype=dtype))
    assert (path[0] - z0).norm() / z0.norm() < tolerance
    assert (path[1] - z1).norm() / z1.norm() < tolerance, f"misses z1 at theta = {theta}"


@pytest.mark.parametrize("theta", [1e-5, 5e-3, 0.5, math.pi - 5e-3, math.pi - 1e-5])
def test_the_midpoint_is_on_the_great_circle_except_within_eps_of_antiparallel(theta):
    """Shoemake's sin formula is exact in float64 at these angles; the fallback turn is for < eps only."""
    z0, z1 = pair_at_angle(theta, norm=1.0, dtype=torch.float64)
    exact = (math.sin(theta / 2) / math.sin(theta)) * (z0 + z1)
    assert (slerp(z0, z1, 0.5) - exact).norm() < 1e-9, f"off the great circle at theta = {theta}"


def test_a_nearly_parallel_row_does_not_disturb_the_other_rows_of_a_batch():
    """Each row is re-orthogonalised on its own, in float32 too."""
    g = torch.Generator().manual_seed(3)
    z0, z1 = torch.randn(2, 4, 64, generator=g)
    near0, near1 = pair_at_angle(3e-5, d=64, dtype=torch.float32)
    z0[1], z1[1] = near0, near1
    batch = slerp(z0, z1, 0.5)
    for row in range(4):
        alone = slerp(z0[row], z1[row], 0.5)
        assert (batch[row] - alone).norm() / alone.norm() < 1e-6, row
