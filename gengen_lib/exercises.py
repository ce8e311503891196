"""Exercises with checkers: write a small piece of each model, then let the library grade it.

Every ``check_<exercise>(fn)`` runs the learner's ``fn`` and the library's reference on the
same random inputs (a fixed seed, so a verdict is reproducible) and returns a
:class:`Verdict`: true or false, shown by a notebook as ONE line, either ``✓ <exercise>: correct on 5 random cases`` or
``✗ <exercise>: not yet correct — <diagnosis>``, where the diagnosis names the first problem
found, in this order: not a function, an exception, not a tensor, a wrong shape, NaN or inf,
different results for the same inputs, only zeros (the stub), a known mistake of that
exercise, the wrong sign, a constant factor, a constant offset, else the largest error.
A checker never raises, whatever ``fn`` does.

The learner's function is called with positional arguments, in the order of the signature
in each checker's docstring. Sizes are distinct (batch N = 6, dimension D = 4, importance
samples K = 7) so that a wrong shape tells which axis went wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import flows, gan, vae
from .data import PIXELS

N, D, K = 6, 4, 7  # batch size, dimension, importance samples
CASES = 5
RTOL, ATOL = 1e-4, 1e-5

Inputs = dict[str, torch.Tensor | float]


# ---------------------------------------------------------------------------------------
# The shared machinery: run, compare, diagnose
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A checker's answer: true when the function is correct. A notebook shows it as one line."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


@dataclass
class Exercise:
    """One exercise: how to draw inputs, the reference answer, and what the checker recognises.

    ``reference`` and every function in ``mistakes`` take the inputs positionally, in the
    order ``make_inputs`` lists them. ``parts`` names the outputs when the answer is a tuple.
    ``mistakes`` maps a diagnosis to a typical wrong implementation: a learner's function
    that agrees with one gets that diagnosis. The hint tables explain a wrong shape, a
    constant factor or a constant offset they recognise.
    """

    name: str
    make_inputs: Callable[[torch.Generator], Inputs]
    reference: Callable
    parts: tuple[str, ...] = ("",)
    mistakes: dict[str, Callable] = field(default_factory=dict)
    shape_hints: dict[tuple[int, ...], str] = field(default_factory=dict)
    factor_hints: dict[float, str] = field(default_factory=dict)
    offset_hints: dict[float, str] = field(default_factory=dict)
    nonfinite_hint: str = ""
    differentiable: tuple[str, ...] = ()  # inputs the answer must pass gradients to, as the reference does

    def check(self, fn: Callable, seed: int = 0) -> Verdict:
        """Grade ``fn`` on CASES random inputs drawn with ``seed``; the verdict shows as one line."""
        try:
            generator = torch.Generator().manual_seed(seed)
            problem = self.problem(fn, [self.make_inputs(generator) for _ in range(CASES)])
        except Exception as error:  # a checker must never break the notebook that calls it
            problem = f"the checker itself failed ({_one_line(error)}); please report this"
        if problem is None:
            return Verdict(True, f"✓ {self.name}: correct on {CASES} random cases")
        return Verdict(False, f"✗ {self.name}: not yet correct — {problem}")

    def problem(self, fn: Callable, cases: list[Inputs]) -> str | None:
        """The first problem with ``fn`` as one phrase, or None when it matches the reference on every case."""
        if not callable(fn):
            return f"expected a function, got {_kind(fn)}"
        expected = [_as_tuple(self.reference(*case.values())) for case in cases]
        got = []
        for case in cases:
            out, problem = self.call(fn, case)
            if problem:
                return problem
            got.append(out)
        for i, label in enumerate(self.parts):
            prefix = f"{label}: " if label else ""
            for g, e in zip(got, expected, strict=True):
                if g[i].shape != e[i].shape:
                    return prefix + _shape_problem(g[i].shape, e[i].shape, self.shape_hints)
            g = torch.cat([out[i].flatten() for out in got])
            e = torch.cat([out[i].flatten() for out in expected])
            if not _close(g, e):
                return prefix + self.value_problem(fn, cases, got, i, g, e)
        return self.gradient_problem(fn, cases[0])

    def gradient_problem(self, fn: Callable, case: Inputs) -> str | None:
        """Values are right; do gradients flow, and are they the reference's? None when they are.

        Both functions get float64 copies of the inputs named in ``differentiable``; their
        outputs are weighted by fixed random numbers and summed, and autograd's gradients of
        that sum are compared input by input.
        """
        if not self.differentiable:
            return None

        def gradients(function):
            args = {k: v.detach().double().requires_grad_(k in self.differentiable) if isinstance(v, torch.Tensor)
                    else v for k, v in case.items()}  # fmt: skip
            outputs = [o for o in _as_tuple_keep_graph(function(*args.values())) if isinstance(o, torch.Tensor)]
            weights = torch.Generator().manual_seed(7)
            total = sum((o * torch.randn(o.shape, generator=weights, dtype=torch.float64).to(o.dtype)).sum()
                        for o in outputs if o.requires_grad)  # fmt: skip
            if not torch.is_tensor(total):
                return None
            inputs = [args[k] for k in self.differentiable]
            return dict(zip(self.differentiable, torch.autograd.grad(total, inputs, allow_unused=True), strict=True))

        try:
            got = gradients(fn)
        except Exception as error:
            return f"the values are right, but differentiating it raised {_one_line(error)}"
        if got is None:
            return ("your result carries no gradient: did you detach it, compute it under torch.no_grad(), "
                    "call .item(), or rebuild it from Python numbers? The point of this exercise is the gradient")
        expected = gradients(self.reference)
        for name in self.differentiable:
            if got[name] is None and expected[name] is not None:
                return f"no gradient reaches {name}: is it detached somewhere (.detach(), .item(), no_grad)?"
            if got[name] is not None and not _close(got[name].double(), expected[name]):
                return f"the values are right but the gradient with respect to {name} is not (a detached part?)"
        return None

    def value_problem(self, fn, cases, got, i: int, g: torch.Tensor, e: torch.Tensor) -> str:
        """Why output part ``i`` (all cases, flattened: ``g``) differs from the expected ``e``."""
        bad = ~torch.isfinite(g) & torch.isfinite(e)
        if bad.any():
            kinds = sorted({"NaN" if v != v else ("inf" if v > 0 else "-inf") for v in g[bad].tolist()})
            hint = f" ({self.nonfinite_hint})" if self.nonfinite_hint else ""
            return f"{' and '.join(kinds)} in {int(bad.sum())} of {g.numel()} values{hint}"
        again, _ = self.call(fn, cases[0])
        if again is None or not all(_close(a, b) for a, b in zip(again, got[0], strict=True)):
            return "two calls with the same inputs give different results (does it draw its own random numbers?)"
        if not g.any():
            return "returns only zeros (is it still the stub?)"
        for diagnosis, wrong in self.mistakes.items():
            if _close(g, torch.cat([_as_tuple(wrong(*case.values()))[i].flatten() for case in cases])):
                return diagnosis
        if _close(g, -e):
            return "wrong sign: your values are minus the expected ones"
        keep = e.abs() > 1e-6 * e.abs().max()
        factor = (g[keep] / e[keep]).median().item() if keep.any() else 0.0
        offset = (g - e).median().item()
        factor_error = (g - factor * e).abs().max().item() if factor != 0 else math.inf
        offset_error = (g - e - offset).abs().max().item()
        if factor_error <= offset_error and _close(g, factor * e):
            message = f"off by a constant factor: your values are {_factor(factor)} the expected ones"
            return message + _hint(factor, self.factor_hints)
        if _close(g, e + offset):
            sign = "+" if offset > 0 else "−"
            message = f"off by a constant: your values are the expected ones {sign} {abs(offset):.4g}"
            return message + _hint(offset, self.offset_hints)
        worst = (g - e).abs().argmax()
        return (
            f"numerically off: largest error {(g - e)[worst].abs().item():.3g} "
            f"(expected {e[worst].item():.5g}, got {g[worst].item():.5g})"
        )

    def call(self, fn: Callable, case: Inputs) -> tuple[tuple[torch.Tensor, ...] | None, str | None]:
        """(``fn``'s outputs as a tuple of float64 tensors, None), or (None, what went wrong)."""
        args = [v.clone() if isinstance(v, torch.Tensor) else v for v in case.values()]
        try:
            out = fn(*args)
        except Exception as error:
            inputs = ", ".join(f"{k} {_shape(v.shape)}" if isinstance(v, torch.Tensor) else f"{k}={v:.3g}"
                               for k, v in case.items())
            return None, f"raised {_one_line(error)} (inputs: {inputs})"
        if out is None:
            return None, "returned None (a missing `return`?)"
        if len(self.parts) == 1:
            out = (out,)
        elif not isinstance(out, tuple | list) or len(out) != len(self.parts):
            return None, f"returned {_kind(out)}; expected a tuple ({', '.join(self.parts)})"
        tensors = []
        for label, value in zip(self.parts, out, strict=True):
            prefix = f"{label}: " if label else ""
            if value is None:
                return None, prefix + "returned None"
            try:
                tensor = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
                tensors.append(tensor.to("cpu", torch.float64))
            except Exception:
                return None, prefix + f"returned {_kind(value)}; expected a tensor"
        return tuple(tensors), None


def _shape_problem(got: torch.Size, expected: torch.Size, hints: dict[tuple[int, ...], str]) -> str:
    message = f"wrong shape: expected {_shape(expected)}, got {_shape(got)}"
    hint = hints.get(tuple(got))
    if hint is None and got.numel() == expected.numel():
        hint = "an extra or missing axis of size 1?"
    return f"{message} ({hint})" if hint else message


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=RTOL, atol=ATOL)


def _as_tuple_keep_graph(out) -> tuple:
    return tuple(out) if isinstance(out, tuple | list) else (out,)


def _as_tuple(out) -> tuple[torch.Tensor, ...]:
    return tuple(t.detach().to(torch.float64) for t in (out if isinstance(out, tuple) else (out,)))


def _hint(value: float, hints: dict[float, str]) -> str:
    for key, text in hints.items():
        if math.isclose(value, key, rel_tol=1e-3):
            return f" ({text})"
    return ""


def _factor(c: float) -> str:
    """2 -> '2×', 0.25 -> '1/4×', -0.5 -> '-1/2×', 0.6931 -> '0.6931×'."""
    if abs(c) >= 1 and math.isclose(c, round(c), rel_tol=1e-3):
        return f"{round(c)}×"
    if abs(c) < 1 and math.isclose(1 / c, round(1 / c), rel_tol=1e-3):
        return f"{'-' if c < 0 else ''}1/{abs(round(1 / c))}×"
    return f"{c:.4g}×"


def _shape(shape) -> str:
    return str(tuple(shape))


def _kind(value) -> str:
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return "None" if value is None else f"a {type(value).__name__}"


def _one_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    message = lines[0][:160] if lines else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


# ---------------------------------------------------------------------------------------
# Variational autoencoders
# ---------------------------------------------------------------------------------------

KL_STANDARD_NORMAL = Exercise(
    "kl_standard_normal",
    lambda g: {"mu": _randn(g, N, D), "logvar": _randn(g, N, D)},
    vae.kl_standard_normal,
    mistakes={
        "this treats logvar as log σ; the variance is σ² = exp(logvar)":
            lambda mu, logvar: 0.5 * (torch.exp(2 * logvar) + mu**2 - 2 * logvar - 1).sum(-1),
        "this uses σ = exp(logvar / 2) where σ² = exp(logvar) belongs":
            lambda mu, logvar: 0.5 * (torch.exp(logvar / 2) + mu**2 - logvar - 1).sum(-1),
    },
    shape_hints={
        (D,): "summed over the batch (dim 0) instead of the latent dimension (dim -1)",
        (N, D): "one value per example: sum over the latent dimension",
        (): "a single number: keep one value per example, do not reduce over the batch",
    },
    factor_hints={2.0: "a missing 1/2?", 1 / D: "a mean over the latent dimension instead of a sum?"},
    offset_hints={D / 2: "a missing −1 inside the sum?"},
    differentiable=("mu", "logvar"),
)


def check_kl_standard_normal(fn: Callable, seed: int = 0) -> Verdict:
    """``kl_standard_normal(mu, logvar)``: KL(N(mu, diag(exp(logvar))) || N(0, I)) per example, in nats.

    mu, logvar: (N, D) -> (N,).
    """
    return KL_STANDARD_NORMAL.check(fn, seed)


REPARAMETERIZE = Exercise(
    "reparameterize",
    lambda g: {"mu": _randn(g, N, D), "logvar": _randn(g, N, D), "eps": _randn(g, N, D)},
    lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar) * eps,
    mistakes={
        "this scales eps by the variance exp(logvar); the standard deviation is exp(logvar / 2)":
            lambda mu, logvar, eps: mu + torch.exp(logvar) * eps,
        "this scales eps by logvar itself; the standard deviation is exp(logvar / 2)":
            lambda mu, logvar, eps: mu + logvar * eps,
        "this forgets the mean: z = mu + σ · eps":
            lambda mu, logvar, eps: torch.exp(0.5 * logvar) * eps,
    },
    nonfinite_hint="logvar is as often negative as positive: σ = exp(logvar / 2), no square root or log",
    differentiable=("mu", "logvar"),
)


def check_reparameterize(fn: Callable, seed: int = 0) -> Verdict:
    """``reparameterize(mu, logvar, eps)``: z = mu + sigma * eps with sigma = exp(logvar / 2).

    mu, logvar, eps: (N, D) -> z (N, D). The noise eps is given, so the answer is exact.
    """
    return REPARAMETERIZE.check(fn, seed)


IMPORTANCE_LOG_LIKELIHOOD = Exercise(
    "importance_log_likelihood",
    lambda g: {
        "log_p_x_given_z": -110 + 5 * _randn(g, K, N),
        "log_p_z": -28 + 2 * _randn(g, K, N),
        "log_q_z": 10 + 2 * _randn(g, K, N),
    },
    lambda log_p_x_given_z, log_p_z, log_q_z: torch.logsumexp(log_p_x_given_z + log_p_z - log_q_z, dim=0)
    - math.log(len(log_p_z)),
    mistakes={
        "this averages the log-weights (that is the ELBO estimate); the estimate is the log of the average weight":
            lambda lpx, lpz, lqz: (lpx + lpz - lqz).mean(0),
        "this adds log q; the importance weights are p(x | z) p(z) / q(z | x)":
            lambda lpx, lpz, lqz: torch.logsumexp(lpx + lpz + lqz, 0) - math.log(K),
    },
    shape_hints={
        (K,): "reduced over the images (dim 1) instead of the samples (dim 0)",
        (K, N): "one value per image: reduce over the k samples (dim 0)",
        (): "a single number: keep one value per image, do not reduce over the images",
    },
    offset_hints={math.log(K): "a missing − log k: the average is 1/k times the sum"},
    nonfinite_hint="exp of log-weights near −130 underflows to 0: stay in the log domain with torch.logsumexp",
    differentiable=("log_p_x_given_z", "log_p_z", "log_q_z"),
)


def check_importance_log_likelihood(fn: Callable, seed: int = 0) -> Verdict:
    """``importance_log_likelihood(log_p_x_given_z, log_p_z, log_q_z)``: the importance-sampling
    estimate log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x), in nats.

    Each input is (k, N): the log-densities at k samples z_i ~ q(z | x) for each of N images;
    the result is (N,). The log-weights are near -130, as for real MNIST images.
    """
    return IMPORTANCE_LOG_LIKELIHOOD.check(fn, seed)


# ---------------------------------------------------------------------------------------
# Generative adversarial networks
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
# Normalizing flows
# ---------------------------------------------------------------------------------------


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


COUPLING_FORWARD = Exercise(
    "coupling_forward",
    lambda g: _coupling_inputs(g, "x"),
    _coupling_forward,
    parts=("y", "log_det"),
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
        (N, D): "one value per example: sum over the last dimension",
        (D,): "summed over the batch (dim 0) instead of the last dimension",
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


CHECKERS: dict[str, Callable[..., bool]] = {
    "kl_standard_normal": check_kl_standard_normal,
    "reparameterize": check_reparameterize,
    "importance_log_likelihood": check_importance_log_likelihood,
    "slerp": check_slerp,
    "discriminator_loss": check_discriminator_loss,
    "non_saturating_generator_loss": check_non_saturating_generator_loss,
    "coupling_forward": check_coupling_forward,
    "coupling_inverse": check_coupling_inverse,
    "bits_per_dim": check_bits_per_dim,
}
