"""The exercises on GANs and their latent spaces, short and multi-step (collected by :mod:`gengen_lib.exercises`).

* Short: ``slerp``, ``discriminator_loss``, ``non_saturating_generator_loss``.

* What the discriminator measures: ``optimal_discriminator`` -> ``discriminator_value``, then
  :func:`check_jensen_shannon` turns the best discriminator's value into the Jensen-Shannon
  divergence of two Gaussians and compares it with a direct quadrature of the definition.
* A slerp for every pair of endpoints: ``angle_between`` (accurate near 0 and pi) ->
  ``robust_slerp``, checked by the properties of the path (on the great circle at constant
  angular speed, norm linear) on ordinary, nearly parallel, parallel, antiparallel and zero
  endpoints, so that any correct construction passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import gan
from .checking import (
    D,
    Exercise,
    ExerciseSet,
    N,
    Verdict,
    _bce,
    _kind,
    _one_line,
    _randn,
    by_name,
    failed,
    guarded,
    measure_after_steps,
    passed,
)

# ---------------------------------------------------------------------------------------
# Short exercises: one function each
# ---------------------------------------------------------------------------------------


def _slerp_of_raw_vectors(z0, z1, t):
    """The formula often found online: the slerp weights applied to z0 and z1 themselves."""
    omega = torch.arccos((z0 / z0.norm() * z1 / z1.norm()).sum().clamp(-1, 1))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


SLERP = Exercise(
    "slerp",
    lambda g: {"z0": _randn(g, D), "z1": _randn(g, D), "t": torch.rand(1, generator=g).item()},
    gan.slerp,
    mistakes={
        "this is linear interpolation: its points cut through the sphere, so their norm dips in the middle":
            gan.lerp,
        "t runs backwards: t = 0 must give z0 and t = 1 give z1":
            lambda z0, z1, t: gan.slerp(z0, z1, 1 - t),
        "this weights z0 and z1 themselves; rotate the unit vectors z/|z| and interpolate the norm linearly "
        "(the two agree only when |z0| = |z1|)":
            _slerp_of_raw_vectors,
    },
    shape_hints={(1, D): "for a scalar t return one vector of shape (D,)"},
    differentiable=("z0", "z1"),
)


def check_slerp(fn: Callable, seed: int = 0) -> Verdict:
    """``slerp(z0, z1, t)``: spherical interpolation. z0, z1: (D,); t: a float in [0, 1] -> (D,).

    The direction turns from z0/|z0| to z1/|z1| along the great circle at constant angular
    speed while the norm goes linearly from |z0| to |z1| (as in :func:`gengen_lib.gan.slerp`).
    """
    return SLERP.check(fn, seed)


def _discriminator_loss(real_logits, fake_logits):
    return gan.discriminator_loss(real_logits, fake_logits, torch.ones_like(real_logits))


DISCRIMINATOR_LOSS = Exercise(
    "discriminator_loss",
    lambda g: {"real_logits": 2 * _randn(g, N), "fake_logits": 2 * _randn(g, N)},
    _discriminator_loss,
    mistakes={
        "the labels are swapped: real images have target 1, fakes target 0":
            lambda real, fake: _discriminator_loss(fake, real),
        "the sigmoid is applied twice: binary_cross_entropy_with_logits takes logits, not probabilities":
            lambda real, fake: _bce(torch.sigmoid(real), 1.0) + _bce(torch.sigmoid(fake), 0.0),
        "only the real images' term: add the fakes' BCE with target 0":
            lambda real, fake: _bce(real, 1.0),
        "only the fakes' term: add the real images' BCE with target 1":
            lambda real, fake: _bce(fake, 0.0),
    },
    shape_hints={
        (N,): "one number for the batch: take the mean over the examples",
        (2 * N,): "one number for the batch: take the mean over the examples",
    },
    factor_hints={N: "a sum over the batch instead of a mean?", 0.5: "the average of the two terms, not their sum?"},
    differentiable=("real_logits", "fake_logits"),
)


def check_discriminator_loss(fn: Callable, seed: int = 0) -> Verdict:
    """``discriminator_loss(real_logits, fake_logits)``: BCE(D(x), 1) + BCE(D(G(z)), 0), batch means, nats.

    real_logits, fake_logits: (N,) logits of "real" -> a single number (shape ()).
    """
    return DISCRIMINATOR_LOSS.check(fn, seed)


NON_SATURATING_GENERATOR_LOSS = Exercise(
    "non_saturating_generator_loss",
    lambda g: {"fake_logits": 2 * _randn(g, N)},
    gan.generator_loss,
    mistakes={
        "this is the minimax loss log(1 − D(G(z))), whose gradient vanishes when D wins; "
        "the non-saturating one is −log D(G(z))":
            lambda fake: gan.generator_loss(fake, "minimax"),
        "this is −log(1 − D(G(z))), the fakes labelled 0; the generator wants them labelled real (target 1)":
            lambda fake: _bce(fake, 0.0),
        "the sigmoid is applied twice: binary_cross_entropy_with_logits takes logits, not probabilities":
            lambda fake: _bce(torch.sigmoid(fake), 1.0),
    },
    shape_hints={(N,): "one number for the batch: take the mean over the examples"},
    factor_hints={N: "a sum over the batch instead of a mean?"},
    differentiable=("fake_logits",),
)


def check_non_saturating_generator_loss(fn: Callable, seed: int = 0) -> Verdict:
    """``non_saturating_generator_loss(fake_logits)``: -log D(G(z)), a batch mean, in nats.

    fake_logits: (N,) discriminator logits of "real" for generated images -> a single number (shape ()).
    """
    return NON_SATURATING_GENERATOR_LOSS.check(fn, seed)


# ---------------------------------------------------------------------------------------
# The optimal discriminator and the Jensen-Shannon divergence
# ---------------------------------------------------------------------------------------

GRID_STEP = 0.05  # dx of the exercise's inputs


def _densities(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"p_data": 0.05 + torch.rand(N, generator=g), "p_model": 0.05 + torch.rand(N, generator=g)}


OPTIMAL_DISCRIMINATOR = Exercise(
    "optimal_discriminator",
    _densities,
    lambda p_data, p_model: p_data / (p_data + p_model),
    mistakes={
        "this is the probability of 'generated': D*(x) is the probability that x is real, p_data / (p_data + p_model)":
            lambda p_data, p_model: p_model / (p_data + p_model),
        "this is the density ratio p_data / p_model, not a probability: divide by the sum of the two densities":
            lambda p_data, p_model: p_data / p_model,
    },
    differentiable=("p_data", "p_model"),
)


def check_optimal_discriminator(fn: Callable, seed: int = 0) -> Verdict:
    """``optimal_discriminator(p_data, p_model)``: the best discriminator D*(x) = p_data(x) / (p_data(x) + p_model(x)).

    p_data, p_model: (N,) densities at N points -> (N,) probabilities of "real".
    """
    return OPTIMAL_DISCRIMINATOR.check(fn, seed)


def _value(p_data, p_model, d, dx):
    return ((p_data * torch.log(d) + p_model * torch.log1p(-d)) * dx).sum()


DISCRIMINATOR_VALUE = Exercise(
    "discriminator_value",
    lambda g: _densities(g) | {"d": 0.05 + 0.9 * torch.rand(N, generator=g), "dx": GRID_STEP},
    _value,
    mistakes={
        "the generated samples' term uses log D; a good discriminator says 'fake' to them: log(1 − D)":
            lambda p_data, p_model, d, dx: ((p_data + p_model) * torch.log(d) * dx).sum(),
        "the densities are swapped: the real data are scored by log D, the model's samples by log(1 − D)":
            lambda p_data, p_model, d, dx: _value(p_model, p_data, d, dx),
    },
    shape_hints={(N,): "one number: the integral is the sum over the grid times dx"},
    factor_hints={1 / GRID_STEP: "a missing dx: the integral is a sum times the grid step",
                  1 / (N * GRID_STEP): "a mean over the grid instead of a sum times dx?"},  # fmt: skip
    differentiable=("p_data", "p_model", "d"),
)


def check_discriminator_value(fn: Callable, seed: int = 0) -> Verdict:
    """``discriminator_value(p_data, p_model, d, dx)``: the GAN value
    V = integral of p_data log D + p_model log(1 - D) dx, on a grid with step dx, in nats.

    p_data, p_model, d: (N,) at N grid points; dx: a float -> a single number (shape ()).
    """
    return DISCRIMINATOR_VALUE.check(fn, seed)


def gaussian_density(x: torch.Tensor, mean: float, std: float = 1.0) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def jensen_shannon_by_quadrature(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """JS(p, q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, on a grid; nats."""
    m = (p + q) / 2
    return (0.5 * (torch.xlogy(p, p / m) + torch.xlogy(q, q / m)) * dx).sum().item()


JS_SHIFTS = (0.0, 1.0, 2.0, 4.0)  # JS(N(0, 1), N(shift, 1)) for these shifts
# The grid stops where p_data / (p_data + p_model) would round to exactly 0 or 1 in float64
# for the largest shift (log 1 = 0 there and the other density's log(1 - D) is -inf).
JS_GRID = (-7.0, 11.0, 1e-3)


def check_jensen_shannon(optimal_discriminator: Callable, discriminator_value: Callable) -> Verdict:
    """Turn the value of the best discriminator into a divergence: V(D*) = 2 JS(p_data, p_model) − log 4.

    For p_data = N(0, 1) and p_model = N(shift, 1) on a grid over [-7, 11] (dx = 0.001, float64),
    the learner's functions give JS = (V(D*) + log 4) / 2; it must match a direct quadrature of
    the definition within 1e-4 nats for every shift. It runs from 0 (identical) towards log 2
    (no overlap), where the generator's gradient through this value vanishes.
    """
    name = "jensen_shannon"
    steps = [
        (check_optimal_discriminator, optimal_discriminator), (check_discriminator_value, discriminator_value),
    ]  # fmt: skip

    def measure() -> Verdict:
        low, high, dx = JS_GRID
        x = torch.arange(low, high, dx, dtype=torch.float64)
        p_data = gaussian_density(x, 0.0)
        ours, reference = [], []
        for shift in JS_SHIFTS:
            p_model = gaussian_density(x, shift)
            value = discriminator_value(p_data, p_model, optimal_discriminator(p_data, p_model), dx)
            ours.append(round((float(value) + math.log(4)) / 2, 6) + 0.0)  # + 0.0: no "-0.0000"
            reference.append(jensen_shannon_by_quadrature(p_data, p_model, dx))
        listed = ", ".join(f"{js:.4f}" for js in ours)
        shifts = ", ".join(f"{s:g}" for s in JS_SHIFTS)
        result = f"JS(N(0, 1), N(μ, 1)) = {listed} nats for μ = {shifts}, rising towards log 2 = {math.log(2):.4f}"
        worst = max(abs(a - b) for a, b in zip(ours, reference, strict=True))
        if not worst < 1e-4:
            return failed(name, f"{result}, but a direct quadrature differs by {worst:.2g}")
        return passed(name, result)

    return measure_after_steps(name, steps, measure)


# ---------------------------------------------------------------------------------------
# A slerp for every pair of endpoints
# ---------------------------------------------------------------------------------------

SLERP_DIM = 5


def _unit_pairs(g: torch.Generator) -> dict[str, torch.Tensor]:
    """(N, 5) pairs of float32 unit vectors at angles from 1e-4 to pi - 1e-4 rad."""
    angles = torch.tensor([1e-4, 1e-3, 0.7, 2.0, math.pi - 1e-3, math.pi - 1e-4], dtype=torch.float64)
    frame, _ = torch.linalg.qr(torch.randn(N, SLERP_DIM, 2, generator=g, dtype=torch.float64))
    u0, w = frame[..., 0], frame[..., 1]
    u1 = torch.cos(angles)[:, None] * u0 + torch.sin(angles)[:, None] * w
    return {"u0": u0.float(), "u1": u1.float()}


def _angle(u0: torch.Tensor, u1: torch.Tensor) -> torch.Tensor:
    """The reference, in float64 from the given vectors: atan2(|u1 - cos u0|, cos)."""
    a, b = u0.double(), u1.double()
    cos = (a * b).sum(-1)
    return torch.atan2((b - cos[..., None] * a).norm(dim=-1), cos).to(u0.dtype)


ARCCOS = ("arccos of the dot product loses its digits near 0 and π (a float32 cosine of 1e-4 rad is exactly 1): "
          "take atan2(|u1 − (u0·u1) u0|, u0·u1) instead")

ANGLE_BETWEEN = Exercise(
    "angle_between",
    _unit_pairs,
    _angle,
    mistakes={
        ARCCOS: lambda u0, u1: torch.arccos((u0 * u1).sum(-1).clamp(-1, 1)),
        ARCCOS + " (in float64 too: these unit vectors are float32-rounded, their dot product can pass ±1)":
            lambda u0, u1: torch.arccos((u0.double() * u1.double()).sum(-1).clamp(-1, 1)),
    },
    shape_hints={(N, SLERP_DIM): "one angle per pair: reduce over the last dimension", (): "one angle per pair"},
    nonfinite_hint="arccos of a dot product that rounding pushed past ±1 is NaN; atan2 never is",
)  # no gradient check: off the unit sphere, correct formulas differ in their radial derivative


def check_angle_between(fn: Callable, seed: int = 0) -> Verdict:
    """``angle_between(u0, u1)``: the angle in radians between unit vectors, accurate at every angle.

    u0, u1: (N, D) float32 unit vectors, some 1e-4 rad from parallel or antiparallel -> (N,) in [0, pi].
    """
    return ANGLE_BETWEEN.check(fn, seed)


def _slerp_cases(g: torch.Generator) -> dict[str, tuple[torch.Tensor, torch.Tensor, str]]:
    """Endpoint pairs (float32, D = 5) with what a failure on them usually means."""
    a, b = torch.randn(SLERP_DIM, generator=g), torch.randn(SLERP_DIM, generator=g)
    w = b - (a @ b) / (a @ a) * a
    near = a + 1e-4 * a.norm() * w / w.norm()
    zero = torch.zeros(SLERP_DIM)
    why_parallel = "sin Ω is 0 or nearly: where the angle is tiny, fall back to lerp or use atan2-accurate weights"
    why_antiparallel = ("antiparallel endpoints have no unique great circle: turn through any fixed direction "
                        "orthogonal to z0")  # fmt: skip
    why_zero = "a zero vector has no direction: take the other endpoint's, so the path is the straight line"
    return {
        "two ordinary codes": (a, 2 * b, "rotate u0 = z0/|z0| towards u1 along the great circle, scale by the norm"),
        "codes 1e-4 rad apart": (a, 1.5 * near, why_parallel),
        "parallel codes (z1 = 3 z0)": (a, 3 * a, why_parallel),
        "antiparallel codes (z1 = −2 z0)": (a, -2 * a, why_antiparallel),
        "a zero start": (zero, b, why_zero),
        "a zero end": (a, zero, why_zero),
        "two zero codes": (zero, zero, why_zero),
    }


SLERP_POSITIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _path_problem(z0: torch.Tensor, z1: torch.Tensor, path: list[torch.Tensor]) -> tuple[str | None, float]:
    """What is wrong with the points of a path at SLERP_POSITIONS, and the largest deviation (float64)."""
    z0, z1 = z0.double(), z1.double()
    t = torch.tensor(SLERP_POSITIONS, dtype=torch.float64)
    points = torch.stack(path)
    n0, n1 = z0.norm(), z1.norm()
    if not torch.allclose(points[0], z0, atol=1e-5) or not torch.allclose(points[-1], z1, atol=1e-5):
        return "t = 0 must give z0 and t = 1 give z1", math.inf
    norm_error = (points.norm(dim=-1) - ((1 - t) * n0 + t * n1)).abs().max().item()
    if norm_error > 1e-5 * (1 + max(n0, n1)):
        return f"the norm is not (1 − t)|z0| + t|z1| (off by up to {norm_error:.2g})", norm_error
    if n0 == 0 or n1 == 0:
        line_error = (points - ((1 - t)[:, None] * z0 + t[:, None] * z1)).abs().max().item()
        if line_error > 1e-5 * (1 + max(n0, n1)):
            return f"the path is not the straight line from z0 to z1 (off by up to {line_error:.2g})", line_error
        return None, line_error
    directions = points / points.norm(dim=-1, keepdim=True)
    omega = _angle(z0 / n0, z1 / n1)
    turned = _angle(directions[:, None], directions[None, :])  # every pair of points
    angle_error = (turned - (t[:, None] - t[None, :]).abs() * omega).abs().max().item()
    if angle_error > 1e-4:
        return (f"the direction does not turn along one great circle at constant speed "
                f"(angles off by up to {angle_error:.2g} rad)"), angle_error  # fmt: skip
    return None, max(norm_error, angle_error)


def check_robust_slerp(fn: Callable, seed: int = 0) -> Verdict:
    """``robust_slerp(z0, z1, t)``: slerp (direction along the great circle at constant angular speed, norm
    linear) that also takes nearly parallel, parallel, antiparallel and zero endpoints.

    z0, z1: (5,) float32; t: a float -> (5,). Checked by the properties of the path at
    t = 0, 1/4, 1/2, 3/4, 1 (for antiparallel endpoints any great circle will do; with a
    zero endpoint the path is the straight line), so any correct construction passes.
    """
    name = "robust_slerp"
    if not callable(fn):
        return failed(name, f"expected a function, got {_kind(fn)}")
    return guarded(name, lambda: _check_slerp_paths(name, fn, seed))


def _check_slerp_paths(name: str, fn: Callable, seed: int) -> Verdict:
    worst = 0.0
    for case, (z0, z1, why) in _slerp_cases(torch.Generator().manual_seed(seed)).items():
        path = []
        for t in SLERP_POSITIONS:
            try:
                point = fn(z0.clone(), z1.clone(), t)
                point = torch.as_tensor(point.detach() if torch.is_tensor(point) else point).to("cpu", torch.float64)
            except Exception as error:
                return failed(name, f"{case}: raised {_one_line(error)} at t = {t:g} ({why})")
            if point.shape != z0.shape:
                return failed(name, f"{case}: expected shape {tuple(z0.shape)}, got {tuple(point.shape)} at t = {t:g}")
            if not torch.isfinite(point).all():
                return failed(name, f"{case}: NaN or inf at t = {t:g} ({why})")
            path.append(point)
        if (z0.any() or z1.any()) and not any(p.any() for p in path):
            return failed(name, "returns only zeros (is it still the stub?)")
        problem, deviation = _path_problem(z0, z1, path)
        if problem:
            return failed(name, f"{case}: {problem} ({why})")
        worst = max(worst, deviation)
    return passed(name, f"on the great circle with a linear norm for all 7 kinds of endpoints "
                        f"(largest deviation {worst:.1g})")  # fmt: skip


# ---------------------------------------------------------------------------------------
# The family's exercises (gengen_lib.exercises)
# ---------------------------------------------------------------------------------------


def reference_results(quick: bool = False) -> list[Verdict]:
    """The results' verdicts with the library's own functions in place of the learner's."""
    return [check_jensen_shannon(OPTIMAL_DISCRIMINATOR.reference, DISCRIMINATOR_VALUE.reference)]


EXERCISES = ExerciseSet(
    family="gan",
    short=by_name(check_slerp, check_discriminator_loss, check_non_saturating_generator_loss),
    steps=by_name(check_optimal_discriminator, check_discriminator_value, check_angle_between, check_robust_slerp),
    results=by_name(check_jensen_shannon),
    reference_results=reference_results,
)
