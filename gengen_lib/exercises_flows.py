"""The exercises on normalizing flows, short and multi-step (collected by :mod:`gengen_lib.exercises`).

* Short: ``coupling_forward``, ``coupling_inverse``, ``bits_per_dim``.

* A coupling layer with its own network: ``coupling_layer`` (forward and log-determinant) ->
  ``coupling_layer_inverse``, then :func:`check_coupling_log_det` stacks four of them and
  compares the summed log-determinants with autograd's ``slogdet`` of the full Jacobian.
* Bits per dimension through the logit: ``logit_transform`` (with its log-determinant) ->
  ``logit_bits_per_dim`` (with the short exercise ``bits_per_dim``), then
  :func:`check_logit_flow_result` scores real MNIST under two base densities, one of which
  gives an exactly known answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import flows, precision
from .checking import D, Exercise, ExerciseSet, Inputs, N, Verdict, _randn, by_name, failed, measure_after_steps, passed
from .data import PIXELS, dequantize, load_mnist
from .densities import standard_normal_log_prob

# ---------------------------------------------------------------------------------------
# Short exercises: one function each
# ---------------------------------------------------------------------------------------


def _layer_exercise(name: str, make_inputs: Callable, reference: Callable, **checks) -> Exercise:
    """An exercise on one layer of a flow: its answer is the pair (y (N, D), log_det (N,), in nats)."""
    return Exercise(name, make_inputs, reference, parts=("y", "log_det"), **checks)


# What a log-determinant of the wrong shape usually means (its shape is (N,)).
LOG_DET_SHAPE_HINTS = {
    (N, D): "one value per example: sum over the last dimension",
    (D,): "summed over the batch (dim 0) instead of the last dimension",
}


def _coupling_inputs(g: torch.Generator, first: str) -> Inputs:
    """x (or y), s, t: (N, D); a mask (D,) alternating with a random parity. s and t are
    nonzero on the kept dimensions too, so a missing mask shows."""
    parity = int(torch.randint(2, (1,), generator=g))
    mask = flows.alternating_mask(D, parity)
    return {first: _randn(g, N, D), "mask": mask, "s": 0.5 * _randn(g, N, D), "t": _randn(g, N, D)}


def _coupling_forward(x, mask, s, t):
    free = 1 - mask
    return mask * x + free * (x * torch.exp(s) + t), (free * s).sum(-1)


def _y(x, mask, s, t):
    return _coupling_forward(x, mask, s, t)[0]


COUPLING_FORWARD = _layer_exercise(
    "coupling_forward",
    lambda g: _coupling_inputs(g, "x"),
    _coupling_forward,
    mistakes={
        "the kept part changes too: where mask = 1, y must equal x":
            lambda x, mask, s, t: (x * torch.exp(s) + t, ((1 - mask) * s).sum(-1)),
        "the mask's roles are swapped: mask = 1 marks the dimensions that pass unchanged":
            lambda x, mask, s, t: _coupling_forward(x, 1 - mask, s, t),
        "this multiplies by exp(−s); the forward pass multiplies by exp(s)":
            lambda x, mask, s, t: (_y(x, mask, -s, t), ((1 - mask) * s).sum(-1)),
        "the log-determinant sums s over all dimensions; only the transformed ones (mask = 0) count":
            lambda x, mask, s, t: (_y(x, mask, s, t), s.sum(-1)),
        "the log-determinant sums exp(s); it is the sum of the log-scales s themselves":
            lambda x, mask, s, t: (_y(x, mask, s, t), ((1 - mask) * torch.exp(s)).sum(-1)),
    },
    shape_hints={
        **LOG_DET_SHAPE_HINTS,
        (): "a single number: keep one value per example, do not reduce over the batch",
    },
    differentiable=("x", "s", "t"),
)


def check_coupling_forward(fn: Callable, seed: int = 0) -> Verdict:
    """``coupling_forward(x, mask, s, t)``: an affine coupling layer, returning (y, log_det).

    x, s, t: (N, D); mask: (D,), 1 on the kept dimensions. y = mask * x + (1 - mask) *
    (x * exp(s) + t) is (N, D); log_det = log|det dy/dx| = sum((1 - mask) * s) over the last
    dimension is (N,), in nats. s and t are given on every dimension: the mask selects them.
    """
    return COUPLING_FORWARD.check(fn, seed)


def _coupling_inverse(y, mask, s, t):
    return mask * y + (1 - mask) * ((y - t) * torch.exp(-s))


COUPLING_INVERSE = Exercise(
    "coupling_inverse",
    lambda g: _coupling_inputs(g, "y"),
    _coupling_inverse,
    mistakes={
        "this undoes the scale before the shift; from y = x·exp(s) + t, x = (y − t)·exp(−s)":
            lambda y, mask, s, t: mask * y + (1 - mask) * (y * torch.exp(-s) - t),
        "this multiplies by exp(s); the inverse divides by it: x = (y − t)·exp(−s)":
            lambda y, mask, s, t: _coupling_inverse(y, mask, -s, t),
        "the kept part changes too: where mask = 1, x must equal y":
            lambda y, mask, s, t: (y - t) * torch.exp(-s),
        "the mask's roles are swapped: mask = 1 marks the dimensions that pass unchanged":
            lambda y, mask, s, t: _coupling_inverse(y, 1 - mask, s, t),
    },
    differentiable=("y", "s", "t"),
)


def check_coupling_inverse(fn: Callable, seed: int = 0) -> Verdict:
    """``coupling_inverse(y, mask, s, t)``: undo the layer of :func:`check_coupling_forward`, returning x (N, D).

    y, s, t: (N, D); mask: (D,). The kept part passes unchanged; the rest is x = (y - t) * exp(-s).
    """
    return COUPLING_INVERSE.check(fn, seed)


BITS_PER_DIM = Exercise(
    "bits_per_dim",
    lambda g: {"log_prob_unit": PIXELS * math.log(2) * (8 - 0.8 - 1.2 * torch.rand(N, generator=g))},
    flows.bits_per_dim,
    mistakes={
        "this adds log p; a better model (higher log p) must cost fewer bits: (784 ln 256 − log p) / (784 ln 2)":
            lambda log_p: (PIXELS * math.log(256) + log_p) / (PIXELS * math.log(2)),
        "mixed units: 784 · 8 is in bits but log p is in nats; use 784 ln 256 before dividing by 784 ln 2":
            lambda log_p: (PIXELS * 8 - log_p) / (PIXELS * math.log(2)),
    },
    factor_hints={
        math.log(2): "that is nats per dimension: divide by ln 2 to get bits",
        PIXELS: "that is bits per image: divide by the 784 dimensions",
    },
    nonfinite_hint="log p is in the thousands: exp(log p) overflows, work with log p itself",
    offset_hints={-8.0: "a missing 784 ln 256: rescaling [0, 1] to the 256 levels adds 8 bits per dimension"},
    differentiable=("log_prob_unit",),
)


def check_bits_per_dim(fn: Callable, seed: int = 0) -> Verdict:
    """``bits_per_dim(log_prob_unit)``: bits per dimension of 8-bit MNIST from log p(y), in nats, of the
    dequantized images y in [0, 1]^784: (784 ln 256 - log p(y)) / (784 ln 2).

    log_prob_unit: (N,) nats per image -> (N,) bits per dimension (here between 0.8 and 2).
    """
    return BITS_PER_DIM.check(fn, seed)


# ---------------------------------------------------------------------------------------
# A coupling layer with its own network
# ---------------------------------------------------------------------------------------


class Conditioner:
    """A small fixed network h (N, dim) -> (s, t), each (N, dim), with s = tanh(...) in (-1, 1).

    Its weights are drawn once; it computes in the dtype and on the device of its input, so
    a learner's function can be checked in float64 and differentiated.
    """

    def __init__(self, dim: int, generator: torch.Generator, hidden: int = 8):
        self.w = _randn(generator, dim, hidden) / math.sqrt(dim)
        self.bias = 0.5 * _randn(generator, hidden)
        self.w_s = _randn(generator, hidden, dim) / math.sqrt(hidden)
        self.w_t = _randn(generator, hidden, dim) / math.sqrt(hidden)

    def __call__(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.tanh(h @ self.w.to(h) + self.bias.to(h))
        return torch.tanh(a @ self.w_s.to(h)), a @ self.w_t.to(h)


def _with_net(g: torch.Generator, first: str) -> dict:
    parity = int(torch.randint(2, (1,), generator=g))
    return {first: _randn(g, N, D), "mask": flows.alternating_mask(D, parity), "net": Conditioner(D, g)}


def _coupling_layer(x, mask, net, *, conditioner_input=None):
    s, t = net(x * mask if conditioner_input is None else conditioner_input)
    free = 1 - mask
    return mask * x + free * (x * torch.exp(s) + t), (free * s).sum(-1)


def _coupling_layer_inverse(y, mask, net):
    s, t = net(y * mask)
    return mask * y + (1 - mask) * (y - t) * torch.exp(-s)


COUPLING_LAYER = _layer_exercise(
    "coupling_layer",
    lambda g: _with_net(g, "x"),
    _coupling_layer,
    mistakes={
        "the network sees the dimensions it transforms: give it x * mask, so that s and t depend on the kept part "
        "only (otherwise the Jacobian is not triangular and sum(s) is not its log-determinant)":
            lambda x, mask, net: _coupling_layer(x, mask, net, conditioner_input=x),
        "the mask's roles are swapped: mask = 1 marks the dimensions that pass unchanged and feed the network":
            lambda x, mask, net: _coupling_layer(x, 1 - mask, net),
        "the log-determinant sums s over all dimensions; only the transformed ones (mask = 0) count":
            lambda x, mask, net: (_coupling_layer(x, mask, net)[0], net(x * mask)[0].sum(-1)),
    },
    shape_hints=LOG_DET_SHAPE_HINTS,
    differentiable=("x",),
)


def check_coupling_layer(fn: Callable, seed: int = 0) -> Verdict:
    """``coupling_layer(x, mask, net)``: an affine coupling whose scale and shift come from a network.

    x: (N, D); mask: (D,), 1 on the kept dimensions; net: a function (N, D) -> (s, t), each (N, D),
    to be given the kept part x * mask. Returns (y, log_det): y = mask * x + (1 - mask) *
    (x * exp(s) + t), (N, D), and log|det dy/dx| = sum((1 - mask) * s), (N,), in nats.
    """
    return COUPLING_LAYER.check(fn, seed)


COUPLING_LAYER_INVERSE = Exercise(
    "coupling_layer_inverse",
    lambda g: _with_net(g, "y"),
    _coupling_layer_inverse,
    mistakes={
        "the network must see y * mask, the kept part (equal to x * mask): then it returns the s and t of the "
        "forward pass":
            lambda y, mask, net: mask * y + (1 - mask) * (y - net(y)[1]) * torch.exp(-net(y)[0]),
        "this undoes the scale before the shift; from y = x·exp(s) + t, x = (y − t)·exp(−s)":
            lambda y, mask, net: mask * y + (1 - mask) * (y * torch.exp(-net(y * mask)[0]) - net(y * mask)[1]),
        "this multiplies by exp(s); the inverse divides by it: x = (y − t)·exp(−s)":
            lambda y, mask, net: mask * y + (1 - mask) * (y - net(y * mask)[1]) * torch.exp(net(y * mask)[0]),
    },
    differentiable=("y",),
)


def check_coupling_layer_inverse(fn: Callable, seed: int = 0) -> Verdict:
    """``coupling_layer_inverse(y, mask, net)``: undo :func:`check_coupling_layer`'s layer, returning x (N, D).

    y: (N, D); mask: (D,); net as for the forward layer.
    """
    return COUPLING_LAYER_INVERSE.check(fn, seed)


def check_coupling_log_det(coupling_layer: Callable, coupling_layer_inverse: Callable, seed: int = 0) -> Verdict:
    """Stack four of the learner's layers (alternating masks, 6 dimensions, float64) and compare the
    summed log-determinants with autograd's log|det| (``torch.linalg.slogdet``) of the stack's
    Jacobian at 4 points; the inverse stack must recover the points. Both within 1e-8.
    """
    name = "coupling_log_det"
    steps = [
        (check_coupling_layer, coupling_layer), (check_coupling_layer_inverse, coupling_layer_inverse),
    ]  # fmt: skip

    def measure() -> Verdict:
        dim, g = 6, torch.Generator().manual_seed(seed)
        layers = [(flows.alternating_mask(dim, i % 2).double(), Conditioner(dim, g)) for i in range(4)]
        x = _randn(g, 4, dim).double()

        def stack(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            total = torch.zeros(len(v), dtype=v.dtype)
            for mask, net in layers:
                v, log_det = coupling_layer(v, mask, net)
                total = total + log_det
            return v, total

        z, log_det = stack(x)
        z = z.to("cpu")
        jacobians = [torch.autograd.functional.jacobian(lambda v: stack(v[None])[0][0], point) for point in x]
        autograd_log_det = torch.linalg.slogdet(torch.stack(jacobians)).logabsdet
        det_error = (log_det.detach().cpu() - autograd_log_det).abs().max().item()
        back = z.detach()
        for mask, net in reversed(layers):
            back = coupling_layer_inverse(back, mask, net)
        inverse_error = (back.detach().cpu() - x).abs().max().item()
        ok = max(det_error, inverse_error) < 1e-8
        shown = precision.round_off_bound if ok else (lambda error: f"{error:.1g}")  # round-off: its order only
        result = (f"the summed log-determinants of 4 stacked layers match autograd's slogdet of the 6×6 Jacobian "
                  f"within {shown(det_error)} nats, and the inverse recovers x within "
                  f"{shown(inverse_error)}")  # fmt: skip
        return passed(name, result) if ok else failed(name, result)

    return measure_after_steps(name, steps, measure)


# ---------------------------------------------------------------------------------------
# Bits per dimension through the logit
# ---------------------------------------------------------------------------------------

ALPHA = 0.05  # large enough that the squeeze's own cost shows in the bits/dim


def _unit_cube(g: torch.Generator, dim: int) -> torch.Tensor:
    """(N, dim) in [0, 1], with an exact 0 and an exact 1, as dequantized pixels can be."""
    x = torch.rand(N, dim, generator=g)
    x[0, 0], x[1, 1] = 0.0, 1.0
    return x


def _logit_transform(x, alpha):
    return flows.LogitTransform(alpha)(x)


def _log_p_and_p1(x, alpha):
    p = alpha + (1 - 2 * alpha) * x
    return torch.log(p) + torch.log1p(-p)


LOGIT_TRANSFORM = _layer_exercise(
    "logit_transform",
    lambda g: {"x": _unit_cube(g, D), "alpha": ALPHA},
    _logit_transform,
    mistakes={
        "the log-determinant misses the squeeze's factor: each dimension also contributes log(1 − 2α)":
            lambda x, alpha: (_logit_transform(x, alpha)[0], -_log_p_and_p1(x, alpha).sum(-1)),
        "the logit's derivative is 1 / (p (1 − p)): its log is −log p − log(1 − p), the signs are flipped":
            lambda x, alpha: (_logit_transform(x, alpha)[0],
                              (math.log(1 - 2 * alpha) + _log_p_and_p1(x, alpha)).sum(-1)),
    },  # fmt: skip
    shape_hints={(N, D): "one value per example: sum over the dimensions", (D,): "summed over the batch (dim 0)"},
    offset_hints={-D * math.log(1 - 2 * ALPHA): "a missing D log(1 − 2α): the squeeze has a log-determinant too"},
    nonfinite_hint="logit(0) and logit(1) are infinite: squeeze x into [α, 1 − α] first, p = α + (1 − 2α) x",
    differentiable=("x",),
)


def check_logit_transform(fn: Callable, seed: int = 0) -> Verdict:
    """``logit_transform(x, alpha)``: y = logit(p) with p = alpha + (1 - 2 alpha) x, and log|det dy/dx|.

    x: (N, D) in [0, 1] (exact 0 and 1 included); alpha: a float -> (y (N, D), log_det (N,)), nats.
    """
    return LOGIT_TRANSFORM.check(fn, seed)


def _logit_bits_per_dim(x, alpha, base_log_prob):
    y, log_det = _logit_transform(x, alpha)
    return flows.bits_per_dim(base_log_prob(y) + log_det)


LOGIT_BITS_PER_DIM = Exercise(
    "logit_bits_per_dim",
    lambda g: {"x": _unit_cube(g, PIXELS), "alpha": ALPHA, "base_log_prob": standard_normal_log_prob},
    _logit_bits_per_dim,
    mistakes={
        "the log-determinant is subtracted; the change of variables adds it: log p(x) = log p(y) + log|det dy/dx|":
            lambda x, alpha, base: flows.bits_per_dim(base(_logit_transform(x, alpha)[0])
                                                      - _logit_transform(x, alpha)[1]),
        "the log-determinant is missing: log p(x) = log p(y) + log|det dy/dx|, not log p(y) alone":
            lambda x, alpha, base: flows.bits_per_dim(base(_logit_transform(x, alpha)[0])),
        "the base density is evaluated at x; it is a density of y = logit(α + (1 − 2α) x)":
            lambda x, alpha, base: flows.bits_per_dim(base(x) + _logit_transform(x, alpha)[1]),
    },  # fmt: skip
    factor_hints={math.log(2): "that is nats per dimension: divide by ln 2 to get bits"},
    offset_hints={-8.0: "a missing 784 ln 256: rescaling [0, 1] to the 256 levels adds 8 bits per dimension"},
    differentiable=("x",),
)


def check_logit_bits_per_dim(fn: Callable, seed: int = 0) -> Verdict:
    """``logit_bits_per_dim(x, alpha, base_log_prob)``: bits per dimension of 8-bit images whose
    dequantized values x in [0, 1] go through the logit transform into a base density.

    x: (N, 784); alpha: a float; base_log_prob: a function y (N, 784) -> (N,) nats. Returns (N,)
    bits/dim, with log p(x) = base_log_prob(y) + log|det dy/dx| as in :func:`check_bits_per_dim`.
    """
    return LOGIT_BITS_PER_DIM.check(fn, seed)


def logistic_log_prob(y: torch.Tensor) -> torch.Tensor:
    """log density of independent standard logistic variables, summed over the last axis. (..., D) -> (...)."""
    return -(F.softplus(y) + F.softplus(-y)).sum(-1)


def check_logit_flow_result(logit_transform: Callable, logit_bits_per_dim: Callable, seed: int = 0) -> Verdict:
    """Score 1,000 dequantized validation images with the learner's ``logit_bits_per_dim`` (alpha = 0.05).

    Under a standard logistic base the logit's inverse makes x uniform: every image scores
    exactly 8 - log2(1 - 2 alpha) bits/dim, the cost of the squeeze. Under a standard normal
    base the score must match the library's own pipeline within 1e-4 bits/dim.
    """
    name = "logit_flow_result"
    steps = [(check_logit_transform, logit_transform), (check_logit_bits_per_dim, logit_bits_per_dim)]

    def measure() -> Verdict:
        images = load_mnist("valid").images[:1000]
        x = dequantize(images, torch.Generator().manual_seed(seed)).double()
        exact = 8 - math.log2(1 - 2 * ALPHA)
        logistic = logit_bits_per_dim(x, ALPHA, logistic_log_prob).detach().to("cpu", torch.float64)
        normal = logit_bits_per_dim(x, ALPHA, standard_normal_log_prob).detach().double().mean().item()
        y, log_det = flows.LogitTransform(ALPHA)(x)
        reference = flows.bits_per_dim(standard_normal_log_prob(y) + log_det).mean().item()
        result = (f"a logistic base scores {logistic.mean().item():.4f} bits/dim (exactly 8 − log2(1 − 2α) = "
                  f"{exact:.4f}: x is uniform), a standard normal base {normal:.3f} bits/dim on 1,000 validation "
                  f"images")  # fmt: skip
        good = (logistic - exact).abs().max().item() < 1e-4 and abs(normal - reference) < 1e-4
        return passed(name, result) if good else failed(name, result)

    return measure_after_steps(name, steps, measure)


# ---------------------------------------------------------------------------------------
# The family's exercises (gengen_lib.exercises)
# ---------------------------------------------------------------------------------------


def reference_results(quick: bool = False) -> list[Verdict]:
    """The results' verdicts with the library's own functions in place of the learner's."""
    return [
        check_coupling_log_det(COUPLING_LAYER.reference, COUPLING_LAYER_INVERSE.reference),
        check_logit_flow_result(LOGIT_TRANSFORM.reference, LOGIT_BITS_PER_DIM.reference),
    ]


EXERCISES = ExerciseSet(
    family="flows",
    short=by_name(check_coupling_forward, check_coupling_inverse, check_bits_per_dim),
    steps=by_name(check_coupling_layer, check_coupling_layer_inverse, check_logit_transform, check_logit_bits_per_dim),
    results=by_name(check_coupling_log_det, check_logit_flow_result),
    reference_results=reference_results,
)
