"""Exercises with checkers: write a small piece of each model, then let the library grade it.

Two kinds, three of each per model family:

* short exercises (this module): one function each, ``check_<exercise>(fn)``;
* multi-step exercises (``exercises_vae``, ``exercises_gan``, ``exercises_flows``, re-exported
  here): several functions that fit together, each step with its own checker, ending in a
  checker that measures a result (an ELBO reached, nats from an exact log-likelihood, a
  match with autograd's slogdet, a bits/dim value).

Every checker runs the learner's function and the library's reference on the same random
inputs (a fixed seed, so a verdict is reproducible) and returns a
:class:`~gengen_lib.checking.Verdict` shown as ONE line, ``✓ ...`` or
``✗ <exercise>: not yet correct — <diagnosis>`` (see :mod:`gengen_lib.checking` for the
order in which problems are diagnosed). A checker never raises, whatever ``fn`` does.

The learner's function is called with positional arguments, in the order of the signature
in each checker's docstring. Sizes are distinct (batch N = 6, dimension D = 4, importance
samples K = 7) so that a wrong shape tells which axis went wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import flows, gan, vae
from .checking import D, Exercise, Inputs, K, N, Verdict, _bce, _randn
from .data import PIXELS

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


from . import exercises_flows, exercises_gan, exercises_vae  # noqa: E402  (they build on the exercises above)
from .exercises_flows import (  # noqa: E402
    check_coupling_layer,
    check_coupling_layer_inverse,
    check_coupling_log_det,
    check_logit_bits_per_dim,
    check_logit_flow_result,
    check_logit_transform,
)
from .exercises_gan import (  # noqa: E402
    check_angle_between,
    check_discriminator_value,
    check_jensen_shannon,
    check_optimal_discriminator,
    check_robust_slerp,
)
from .exercises_vae import (  # noqa: E402
    check_bernoulli_log_likelihood,
    check_gaussian_log_prob,
    check_importance_terms,
    check_linear_gaussian_log_likelihood,
    check_negative_elbo,
    check_tiny_vae,
    check_training_step,
)

SHORT_CHECKERS: dict[str, Callable[..., Verdict]] = {
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

# The steps of the multi-step exercises: each grades one function, like a short exercise.
STEP_CHECKERS: dict[str, Callable[..., Verdict]] = {
    "bernoulli_log_likelihood": check_bernoulli_log_likelihood,
    "negative_elbo": check_negative_elbo,
    "training_step": check_training_step,
    "gaussian_log_prob": check_gaussian_log_prob,
    "importance_terms": check_importance_terms,
    "optimal_discriminator": check_optimal_discriminator,
    "discriminator_value": check_discriminator_value,
    "angle_between": check_angle_between,
    "robust_slerp": check_robust_slerp,
    "coupling_layer": check_coupling_layer,
    "coupling_layer_inverse": check_coupling_layer_inverse,
    "logit_transform": check_logit_transform,
    "logit_bits_per_dim": check_logit_bits_per_dim,
}

# The measured ends of the multi-step exercises: they take the learner's step functions.
RESULT_CHECKERS: dict[str, Callable[..., Verdict]] = {
    "tiny_vae": check_tiny_vae,
    "linear_gaussian_log_likelihood": check_linear_gaussian_log_likelihood,
    "jensen_shannon": check_jensen_shannon,
    "coupling_log_det": check_coupling_log_det,
    "logit_flow_result": check_logit_flow_result,
}

FAMILIES = {
    "vae": ("kl_standard_normal", "reparameterize", "importance_log_likelihood", "bernoulli_log_likelihood",
            "negative_elbo", "training_step", "gaussian_log_prob", "importance_terms"),
    "gan": ("slerp", "discriminator_loss", "non_saturating_generator_loss", "optimal_discriminator",
            "discriminator_value", "angle_between", "robust_slerp"),
    "flows": ("coupling_forward", "coupling_inverse", "bits_per_dim", "coupling_layer", "coupling_layer_inverse",
              "logit_transform", "logit_bits_per_dim"),
}  # fmt: skip

# Every one-function checker, in the notebook's order: by family, the short exercises first.
CHECKERS: dict[str, Callable[..., Verdict]] = {
    name: (SHORT_CHECKERS | STEP_CHECKERS)[name] for family in FAMILIES.values() for name in family
}


def reference_results(quick: bool = False) -> str:
    """What every multi-step exercise's result checker reports when the library's own functions
    stand in for the learner's: one line per exercise, to compare a solution's numbers with."""
    va, ga, fl = exercises_vae, exercises_gan, exercises_flows
    verdicts = [
        check_tiny_vae(va.reference_training_step, quick=quick),
        check_linear_gaussian_log_likelihood(va.GAUSSIAN_LOG_PROB.reference, va.IMPORTANCE_TERMS.reference,
                                             IMPORTANCE_LOG_LIKELIHOOD.reference),
        check_jensen_shannon(ga.OPTIMAL_DISCRIMINATOR.reference, ga.DISCRIMINATOR_VALUE.reference),
        check_coupling_log_det(fl.COUPLING_LAYER.reference, fl.COUPLING_LAYER_INVERSE.reference),
        check_logit_flow_result(fl.LOGIT_TRANSFORM.reference, fl.LOGIT_BITS_PER_DIM.reference),
    ]  # fmt: skip
    return "\n".join(repr(v) for v in verdicts)
