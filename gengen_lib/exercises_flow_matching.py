"""Flow-matching exercises: the training target, an Euler sampler, Hutchinson's divergence.

Each checker grades one function on random inputs drawn from a fixed seed (see
:mod:`gengen_lib.checking` for the verdict and the order of diagnoses). The velocity fields the
checkers hand to the learner are small fixed functions, v(x, t) = tanh(x A + t b), so an
answer can be compared with the library's reference exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import flow_matching as fm
from .checking import D, Exercise, ExerciseSet, N, Verdict, _randn, by_name

STEPS = 5  # Euler steps the checker asks for


class TanhVelocityField:
    """A fixed smooth field v(x, t) = tanh(x A + t b): x (N, D), t (N,) or a float -> (N, D).

    A plain object of tensors, not a closure, so that the grader can hand it to a submission running
    in its sandbox (:mod:`gengen_lib.grading_sandbox` rebuilds library objects from their attributes).
    """

    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        self.a, self.b = a, b

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype).expand(len(x))
        return torch.tanh(x @ self.a.to(x.dtype) + t[:, None] * self.b.to(x.dtype))


def _velocity_field(g: torch.Generator) -> TanhVelocityField:
    """A velocity field drawn from ``g``: A (D, D) with entries of scale 0.7, b (D,)."""
    return TanhVelocityField(_randn(g, D, D) * 0.7, _randn(g, D))


# ---------------------------------------------------------------------------------------
# FM.1 the conditional path and its velocity
# ---------------------------------------------------------------------------------------


def _times(g: torch.Generator) -> torch.Tensor:
    return torch.rand(N, generator=g)


FLOW_MATCHING_TARGET = Exercise(
    "flow_matching_target",
    lambda g: {"x0": _randn(g, N, D), "x1": _randn(g, N, D) * 2 + 1, "t": _times(g)},
    lambda x0, x1, t: fm.straight_path(x0, x1, t),
    parts=("x_t", "velocity"),
    mistakes={
        "the velocity points the wrong way: the point moves from x0 to x1, so d x_t / dt = x1 - x0":
            lambda x0, x1, t: ((1 - t[:, None]) * x0 + t[:, None] * x1, x0 - x1),
        "the ends are swapped: at t = 0 the point must be the noise x0, at t = 1 the data x1":
            lambda x0, x1, t: ((1 - t[:, None]) * x1 + t[:, None] * x0, x0 - x1),
    },  # fmt: skip
    differentiable=("x0", "x1", "t"),
)


def check_flow_matching_target(fn: Callable, seed: int = 0) -> Verdict:
    """``flow_matching_target(x0, x1, t)``: the straight path x_t = (1 - t) x0 + t x1 and its velocity.

    x0 (noise), x1 (data): (N, D); t: (N,) in [0, 1] -> (x_t (N, D), velocity (N, D)).
    """
    return FLOW_MATCHING_TARGET.check(fn, seed)


# ---------------------------------------------------------------------------------------
# FM.5 an Euler sampler
# ---------------------------------------------------------------------------------------


def _euler(velocity, x0, steps):
    x, h = x0, 1.0 / steps
    for k in range(steps):
        x = x + h * velocity(x, torch.full((len(x),), k * h, dtype=x.dtype))
    return x


EULER_SAMPLE = Exercise(
    "euler_sample",
    lambda g: {"velocity": _velocity_field(g), "x0": _randn(g, N, D), "steps": STEPS},
    _euler,
    mistakes={
        "each step moves by the full velocity: multiply it by the step size h = 1 / steps":
            lambda v, x0, steps: _euler(lambda x, t: v(x, t) * steps, x0, steps),
        "the velocity is evaluated at the end of each step (t = (k + 1) h); Euler uses its start, t = k h":
            lambda v, x0, steps: _euler(lambda x, t: v(x, t + 1.0 / steps), x0, steps),
        "the time stays at 0: pass the current time t = k h to the velocity":
            lambda v, x0, steps: _euler(lambda x, t: v(x, 0 * t), x0, steps),
    },  # fmt: skip
    differentiable=("x0",),
)


def check_euler_sample(fn: Callable, seed: int = 0) -> Verdict:
    """``euler_sample(velocity, x0, steps)``: carry x0 from t = 0 to t = 1 with ``steps`` Euler steps.

    velocity(x (N, D), t (N,)) -> (N, D); x0: (N, D); steps: an int -> x(1): (N, D).
    """
    return EULER_SAMPLE.check(fn, seed)


# ---------------------------------------------------------------------------------------
# FM.6 Hutchinson's divergence
# ---------------------------------------------------------------------------------------


def _rademacher(g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (N, D), generator=g).float() * 2 - 1


def _hutchinson(velocity, x, t, eps):
    return fm.hutchinson_divergence(velocity, x, t, eps)


def _no_jacobian(velocity, x, t, eps):
    return (velocity(x, t) * eps).sum(-1)


def _unweighted(velocity, x, t, eps):
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        (vjp,) = torch.autograd.grad(velocity(xg, t), xg, eps)
    return vjp.sum(-1)


HUTCHINSON_DIVERGENCE = Exercise(
    "hutchinson_divergence",
    lambda g: {"velocity": _velocity_field(g), "x": _randn(g, N, D), "t": _times(g), "eps": _rademacher(g)},
    _hutchinson,
    mistakes={
        "this is eps · v, with no Jacobian: differentiate v with respect to x (torch.autograd.grad with "
        "grad_outputs=eps gives eps^T dv/dx)": _no_jacobian,
        "the vector-Jacobian product eps^T J must be multiplied by eps again before summing: eps^T J eps": _unweighted,
    },  # fmt: skip
    shape_hints={(N, D): "one number per example: sum eps^T J times eps over the dimensions"},
)


def check_hutchinson_divergence(fn: Callable, seed: int = 0) -> Verdict:
    """``hutchinson_divergence(velocity, x, t, eps)``: the estimate eps^T (dv/dx) eps of div v, per example.

    velocity(x (N, D), t (N,)) -> (N, D); x: (N, D); t: (N,); eps: (N, D) of ±1 -> (N,).
    """
    return HUTCHINSON_DIVERGENCE.check(fn, seed)


EXERCISES = ExerciseSet(
    family="flow_matching",
    short=by_name(check_flow_matching_target, check_euler_sample, check_hutchinson_divergence),
    steps={},
    results={},
    reference_results=lambda quick: [],
)

