"""The exercises on variational autoencoders, short and multi-step (collected by :mod:`gengen_lib.exercises`).

* Short: ``kl_standard_normal``, ``reparameterize``, ``importance_log_likelihood``.

* Train a tiny VAE: ``bernoulli_log_likelihood`` -> ``negative_elbo`` -> ``training_step``,
  then :func:`check_tiny_vae` trains a VAE with the learner's step and measures its
  validation ELBO with the library's own code.
* Importance sampling against an exact answer: ``gaussian_log_prob`` -> ``importance_terms``
  (with the short exercise ``importance_log_likelihood``), then
  :func:`check_linear_gaussian_log_likelihood` compares the estimate with the exact
  log p(x) of a linear-Gaussian model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from . import vae
from .checking import (
    ATOL,
    RTOL,
    D,
    Exercise,
    ExerciseSet,
    K,
    N,
    Verdict,
    _one_line,
    _randn,
    by_name,
    failed,
    measure_after_steps,
    passed,
)
from .data import PIXELS, binarize, load_mnist
from .densities import LOG_2PI, bernoulli_log_prob, gaussian_log_prob, standard_normal_log_prob

# ---------------------------------------------------------------------------------------
# Short exercises: one function each
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
# Train a tiny VAE
# ---------------------------------------------------------------------------------------


def _saturated_logits(g: torch.Generator) -> torch.Tensor:
    """(N, 784) logits, a few of them at +-30, where sigmoid(l) rounds to 0 or 1 in float32."""
    logits = 3 * _randn(g, N, PIXELS)
    logits[:, :16] = 30 * torch.sign(logits[:, :16])
    return logits


def _binary(g: torch.Generator, *shape: int) -> torch.Tensor:
    return (torch.rand(*shape, generator=g) < 0.3).float()


def _naive_bernoulli(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)


BERNOULLI_LOG_LIKELIHOOD = Exercise(
    "bernoulli_log_likelihood",
    lambda g: {"logits": _saturated_logits(g), "x": _binary(g, N, PIXELS)},
    bernoulli_log_prob,
    mistakes={
        "the sigmoid is applied twice: binary_cross_entropy_with_logits takes logits, not probabilities":
            lambda logits, x: -F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x, reduction="none").sum(-1),
        "this is the log-likelihood of the flipped image: pixels equal to 1 have probability sigmoid(l)":
            lambda logits, x: bernoulli_log_prob(logits, 1 - x),
    },
    shape_hints={
        (N, PIXELS): "one value per image: sum over the 784 pixels",
        (PIXELS,): "summed over the images (dim 0) instead of the pixels (dim -1)",
        (): "a single number: keep one value per image",
    },
    factor_hints={1 / PIXELS: "a mean over the pixels: the log-likelihood of an image is the sum over its pixels"},
    nonfinite_hint="log(sigmoid(l)) is log 0 once sigmoid rounds to 0 or 1, here at |l| = 30: "
    "use F.binary_cross_entropy_with_logits(logits, x, reduction='none') or F.logsigmoid",
    differentiable=("logits",),
)


def check_bernoulli_log_likelihood(fn: Callable, seed: int = 0) -> Verdict:
    """``bernoulli_log_likelihood(logits, x)``: log p(x | z) of binary images, in nats.

    logits: (N, 784) decoder outputs (sigmoid(l) is the probability of a 1, some |l| = 30);
    x: (N, 784) in {0, 1} -> (N,), the sum over the pixels.
    """
    return BERNOULLI_LOG_LIKELIHOOD.check(fn, seed)


def _negative_elbo(logits, x, mu, logvar):
    return -(bernoulli_log_prob(logits, x) - vae.kl_standard_normal(mu, logvar)).mean()


NEGATIVE_ELBO = Exercise(
    "negative_elbo",
    lambda g: {"logits": 3 * _randn(g, N, PIXELS), "x": _binary(g, N, PIXELS),
               "mu": 2 * _randn(g, N, D), "logvar": _randn(g, N, D)},  # fmt: skip
    _negative_elbo,
    mistakes={
        "the KL term has the wrong sign: the ELBO is reconstruction − KL, so the loss −ELBO adds the KL":
            lambda logits, x, mu, logvar: -(bernoulli_log_prob(logits, x) + vae.kl_standard_normal(mu, logvar)).mean(),
        "this is only the reconstruction term: the loss also adds the KL divergence":
            lambda logits, x, mu, logvar: -bernoulli_log_prob(logits, x).mean(),
        "this is only the KL term: the loss also subtracts the reconstruction log-likelihood":
            lambda logits, x, mu, logvar: vae.kl_standard_normal(mu, logvar).mean(),
    },
    shape_hints={(N,): "one number for the batch: take the mean of −ELBO over the images"},
    factor_hints={N: "a sum over the batch instead of a mean?"},
    differentiable=("logits", "mu", "logvar"),
)


def check_negative_elbo(fn: Callable, seed: int = 0) -> Verdict:
    """``negative_elbo(logits, x, mu, logvar)``: the VAE's loss, −(log p(x | z) − KL(q || p)) averaged
    over the batch, in nats per image.

    logits, x: (N, 784); mu, logvar: (N, D) -> a single number (shape ()).
    """
    return NEGATIVE_ELBO.check(fn, seed)


def reference_training_step(model: vae.VAE, optimizer: torch.optim.Optimizer, x, eps, *, zero_grad=True, sign=1.0,
                    use_noise=True, step=True) -> float:  # fmt: skip
    """One Adam step on the negative ELBO; the keywords make the typical mistakes."""
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps if use_noise else mu
    loss = _negative_elbo(model.decode(z), x, mu, logvar)
    if zero_grad:
        optimizer.zero_grad()
    (sign * loss).backward()
    if step:
        optimizer.step()
    return loss.item()


STEP_MISTAKES = {
    "the parameters did not change: call optimizer.step() after loss.backward() (is it still the stub?)":
        {"step": False},
    "the gradients of an earlier step were added to this one's: call optimizer.zero_grad() before loss.backward()":
        {"zero_grad": False},
    "the parameters moved uphill: the loss to minimise is the negative ELBO (did you backpropagate the ELBO itself?)":
        {"sign": -1.0},
    "the decoder got mu instead of a sample: z = reparameterize(mu, logvar, eps) with the eps given":
        {"use_noise": False},
}


def _step_setup(seed: int) -> tuple[vae.VAE, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    """A small VAE whose parameters hold stale gradients (as after an earlier step), its Adam, x and eps."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = vae.VAE(z_dim=D, hidden=16)
    for p in model.parameters():
        p.grad = 100 * _randn(g, *p.shape)
    return model, torch.optim.Adam(model.parameters(), lr=1e-2), _binary(g, N, PIXELS), _randn(g, N, D)


def _after_step(seed: int, run: Callable) -> tuple[list[torch.Tensor], object]:
    model, optimizer, x, eps = _step_setup(seed)
    out = run(model, optimizer, x, eps)
    return [p.detach().clone() for p in model.parameters()], out


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(p, q, rtol=RTOL, atol=ATOL) for p, q in zip(a, b, strict=True))


def check_training_step(fn: Callable, seed: int = 0) -> Verdict:
    """``training_step(model, optimizer, x, eps)``: one optimisation step of a VAE on a batch; returns the loss.

    model: a :class:`gengen_lib.vae.VAE` (``model.encode(x) -> (mu, logvar)``,
    ``model.decode(z) -> logits``); optimizer: its Adam; x: (N, 784) binary; eps: (N, D)
    noise for the reparameterization. Returns the batch's negative ELBO (a number, nats per
    image) from before the update. The parameters start with stale gradients, as they
    would after an earlier step.
    """
    name = "training_step"
    if not callable(fn):
        return failed(name, "expected a function")
    expected, expected_loss = _after_step(seed, reference_training_step)
    try:
        got, loss = _after_step(seed, fn)
    except Exception as error:
        return failed(name, f"raised {_one_line(error)}")
    try:
        loss = float(loss.detach() if torch.is_tensor(loss) else loss)
    except (TypeError, ValueError, RuntimeError):
        return failed(name, f"returned a {type(loss).__name__}; return the loss as a number (loss.item())")
    if not _same(got, expected):
        for diagnosis, variant in STEP_MISTAKES.items():
            if _same(got, _after_step(seed, lambda *a, v=variant: reference_training_step(*a, **v))[0]):
                return failed(name, diagnosis)
        return failed(name, "the parameters after the step are not those of one Adam step on the negative ELBO")
    if not math.isclose(loss, expected_loss, rel_tol=RTOL):
        return failed(name, f"the update is right but it returned {loss:.5g}; return the loss, {expected_loss:.5g}")
    return passed(name, "one Adam step on the negative ELBO, as the reference takes it")


@dataclass(frozen=True)
class TinyVAERun:
    """How :func:`check_tiny_vae` trains, and the validation ELBO to beat (nats per image).

    ``settings``: the VAE's sizes and optimiser, on the first ``train_subset`` training images
    binarized once (the check's ``seed`` stands for ``settings.seed``); ``valid_images``: the
    validation images that measure the ELBO.
    """

    settings: vae.VAESettings
    valid_images: int = 1000
    target_elbo: float = -125.0


TINY_VAE = TinyVAERun(vae.VAESettings(z_dim=16, hidden=256, lr=2e-3, batch_size=100, epochs=5, train_subset=20_000,
                                      dynamic_binarization=False))  # fmt: skip
TINY_VAE_QUICK = TinyVAERun(replace(TINY_VAE.settings, lr=3e-3, epochs=3, train_subset=3000), target_elbo=-190.0)


def train_tiny_vae(training_step: Callable, run: TinyVAERun, seed: int = 0) -> tuple[vae.VAE, float]:
    """Train a small VAE on binarized MNIST with ``training_step``; returns (model, seconds).

    It runs on one CPU thread: a model this small gains nothing from more, and on a busy
    machine threads that wait for each other make each step ten times slower.
    """
    start, threads, settings = time.perf_counter(), torch.get_num_threads(), run.settings
    torch.manual_seed(seed)
    model = vae.build_vae(settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    x = binarize(load_mnist("train").images[: settings.train_subset])
    g = torch.Generator().manual_seed(seed)
    torch.set_num_threads(1)
    try:
        for _ in range(settings.epochs):
            for batch in x[torch.randperm(len(x), generator=g)].split(settings.batch_size):
                training_step(model, optimizer, batch, _randn(g, len(batch), settings.z_dim))
    finally:
        torch.set_num_threads(threads)
    return model, time.perf_counter() - start


@torch.no_grad()
def validation_elbo(model: vae.VAE, n: int, seed: int = 0) -> float:
    """The library's one-sample ELBO, averaged over the first n binarized validation images (nats)."""
    torch.manual_seed(seed)
    return model.elbo_terms(binarize(load_mnist("valid").images[:n])).elbo.mean().item()


def check_tiny_vae(training_step: Callable, quick: bool = False, seed: int = 0) -> Verdict:
    """Train a VAE (784-256-16) with the learner's ``training_step`` and measure its validation ELBO.

    Full mode: 5 epochs over 20,000 images (about 15 s on one CPU core), target ELBO above
    -125 nats; quick mode: 3 epochs over 3,000 images (seconds), target above -190. The
    ELBO is measured by the library (:meth:`gengen_lib.vae.VAE.elbo_terms`), not by the
    learner's loss, so a loss that is wrong cannot grade itself.
    """
    name = "tiny_vae"
    steps = [(check_training_step, training_step)]
    run = TINY_VAE_QUICK if quick else TINY_VAE

    def measure() -> Verdict:
        model, seconds = train_tiny_vae(training_step, run, seed)
        elbo = validation_elbo(model, run.valid_images, seed)
        result = (f"validation ELBO {elbo:.1f} nats per image after {run.settings.epochs} epochs on "
                  f"{run.settings.train_subset:,} images ({seconds:.0f} s); "
                  f"target above {run.target_elbo:.0f}")  # fmt: skip
        return passed(name, result) if elbo > run.target_elbo else failed(name, result)

    return measure_after_steps(name, steps, measure)


# ---------------------------------------------------------------------------------------
# Importance sampling against an exact log-likelihood
# ---------------------------------------------------------------------------------------

X_DIM, Z_DIM = 5, 2  # the linear-Gaussian model: x in R^5, z in R^2


GAUSSIAN_LOG_PROB = Exercise(
    "gaussian_log_prob",
    lambda g: {"x": _randn(g, K, N, D), "mean": _randn(g, N, D), "logvar": _randn(g, N, D)},
    gaussian_log_prob,
    mistakes={
        "this divides by the standard deviation exp(logvar / 2); the exponent has (x − mean)² / σ², σ² = exp(logvar)":
            lambda x, mean, logvar: -0.5 * (LOG_2PI + logvar + (x - mean) ** 2 / torch.exp(logvar / 2)).sum(-1),
        "the normalising term log σ² is missing: log N = −(log 2π + log σ² + (x − mean)² / σ²) / 2":
            lambda x, mean, logvar: -0.5 * (LOG_2PI + (x - mean) ** 2 / torch.exp(logvar)).sum(-1),
        "this treats logvar as log σ: the variance is exp(logvar)":
            lambda x, mean, logvar: -0.5 * (LOG_2PI + 2 * logvar + (x - mean) ** 2 / torch.exp(2 * logvar)).sum(-1),
    },
    shape_hints={
        (K, N, D): "one value per point: sum over the last dimension",
        (N,): "reduced over the samples (dim 0): keep one value per sample and image",
        (): "a single number: keep one value per sample and image",
    },
    offset_hints={D / 2 * LOG_2PI: "the constant −(D/2) log 2π is missing"},
    factor_hints={1 / D: "a mean over the dimensions instead of a sum?"},
    differentiable=("x", "mean", "logvar"),
)


def check_gaussian_log_prob(fn: Callable, seed: int = 0) -> Verdict:
    """``gaussian_log_prob(x, mean, logvar)``: log N(x; mean, diag(exp(logvar))) summed over the last axis.

    x: (K, N, D) points; mean, logvar: (N, D), broadcast over the K samples -> (K, N), in nats.
    """
    return GAUSSIAN_LOG_PROB.check(fn, seed)


def _linear_gaussian_inputs(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "x": _randn(g, N, X_DIM),
        "z": _randn(g, K, N, Z_DIM),
        "W": _randn(g, X_DIM, Z_DIM),
        "b": _randn(g, X_DIM),
        "noise_logvar": _randn(g, X_DIM) - 1,
        "q_mean": _randn(g, N, Z_DIM),
        "q_logvar": _randn(g, N, Z_DIM) - 1,
    }


def _importance_terms(x, z, W, b, noise_logvar, q_mean, q_logvar):
    return (
        gaussian_log_prob(x, z @ W.T + b, noise_logvar),
        standard_normal_log_prob(z),
        gaussian_log_prob(z, q_mean, q_logvar),
    )


def _replace(terms: tuple, i: int, value: torch.Tensor) -> tuple:
    return terms[:i] + (value,) + terms[i + 1 :]


IMPORTANCE_TERMS = Exercise(
    "importance_terms",
    _linear_gaussian_inputs,
    _importance_terms,
    parts=("log_p_x_given_z", "log_p_z", "log_q_z"),
    mistakes={
        "the decoder's mean is W z + b: the offset b is missing":
            lambda x, z, W, b, nl, qm, ql: _replace(_importance_terms(x, z, W, b, nl, qm, ql), 0,
                                                    gaussian_log_prob(x, z @ W.T, nl)),
        "this evaluates q's density at x's mean or under the prior's parameters; log q(z | x) = "
        "log N(z; q_mean, exp(q_logvar))":
            lambda x, z, W, b, nl, qm, ql: _replace(_importance_terms(x, z, W, b, nl, qm, ql), 2,
                                                    standard_normal_log_prob(z)),
        "the prior is N(0, I): log p(z) needs neither q_mean nor q_logvar":
            lambda x, z, W, b, nl, qm, ql: _replace(_importance_terms(x, z, W, b, nl, qm, ql), 1,
                                                    gaussian_log_prob(z, qm, ql)),
    },  # fmt: skip
    shape_hints={
        (N, K): "samples and images swapped: the samples run along dim 0",
        (K, N, X_DIM): "one value per sample and image: sum over the data dimension",
        (K, N, Z_DIM): "one value per sample and image: sum over the latent dimension",
    },
    differentiable=("z", "W", "b", "q_mean", "q_logvar"),
)


def check_importance_terms(fn: Callable, seed: int = 0) -> Verdict:
    """``importance_terms(x, z, W, b, noise_logvar, q_mean, q_logvar)``: the three log-densities of an
    importance weight in the linear-Gaussian model z ~ N(0, I_2), x | z ~ N(W z + b, diag(exp(noise_logvar))).

    x: (N, 5); z: (k, N, 2) samples of q(z | x) = N(q_mean, diag(exp(q_logvar))); W: (5, 2);
    b, noise_logvar: (5,); q_mean, q_logvar: (N, 2). Returns (log p(x | z), log p(z), log q(z | x)),
    each (k, N), in nats.
    """
    return IMPORTANCE_TERMS.check(fn, seed)


@dataclass(frozen=True)
class LinearGaussian:
    """z ~ N(0, I), x | z ~ N(W z + b, diag(noise_var)): the marginal p(x) and the posterior are Gaussian."""

    W: torch.Tensor  # (X, Z)
    b: torch.Tensor  # (X,)
    noise_var: torch.Tensor  # (X,)

    @classmethod
    def random(cls, generator: torch.Generator) -> LinearGaussian:
        W = torch.randn(X_DIM, Z_DIM, generator=generator, dtype=torch.float64)
        b = torch.randn(X_DIM, generator=generator, dtype=torch.float64)
        return cls(W, b, 0.1 + torch.rand(X_DIM, generator=generator, dtype=torch.float64))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, Z_DIM, generator=generator, dtype=torch.float64)
        return z @ self.W.T + self.b + self.noise_var.sqrt() * torch.randn(n, X_DIM, generator=generator,
                                                                            dtype=torch.float64)  # fmt: skip

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) = log N(x; b, W W^T + diag(noise_var)). (N, X) -> (N,) nats."""
        covariance = self.W @ self.W.T + torch.diag(self.noise_var)
        return torch.distributions.MultivariateNormal(self.b, covariance).log_prob(x)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact posterior N(mean, cov): mean (N, Z), cov (Z, Z) (the same for every x)."""
        precision = torch.eye(Z_DIM, dtype=x.dtype) + self.W.T @ (self.W / self.noise_var[:, None])
        cov = torch.linalg.inv(precision)
        return ((x - self.b) / self.noise_var) @ self.W @ cov, cov


def check_linear_gaussian_log_likelihood(
    gaussian_log_prob: Callable, importance_terms: Callable, importance_log_likelihood: Callable, seed: int = 0
) -> Verdict:
    """Estimate log p(x) by importance sampling with the learner's three functions, and compare with
    the exact value of a linear-Gaussian model (8 points x, nats).

    The proposal q(z | x) is a deliberately imperfect Gaussian: the exact posterior's mean
    and twice its marginal variances, without the correlation. Passes when k = 1000 samples
    land within 0.1 nats of the exact log p(x) for every point.
    """
    name = "linear_gaussian_log_likelihood"
    steps = [
        (check_gaussian_log_prob, gaussian_log_prob),
        (check_importance_terms, importance_terms),
        (check_importance_log_likelihood, importance_log_likelihood),
    ]  # fmt: skip

    def measure() -> Verdict:
        g = torch.Generator().manual_seed(seed)
        model = LinearGaussian.random(g)
        x = model.sample(8, g)
        exact = model.log_marginal(x)
        mean, cov = model.posterior(x)
        q_logvar = torch.log(2 * cov.diagonal()).expand_as(mean)
        errors = {}
        for k in (1, 10, 1000):
            z = mean + torch.exp(q_logvar / 2) * torch.randn(k, *mean.shape, generator=g, dtype=torch.float64)
            terms = importance_terms(x, z, model.W, model.b, model.noise_var.log(), mean, q_logvar)
            estimate = importance_log_likelihood(*terms).detach().to("cpu", torch.float64)
            errors[k] = (estimate - exact).abs().max().item()
        result = (f"k = 1000 samples land {errors[1000]:.3f} nats from the exact log p(x) (largest of 8 points; "
                  f"k = 10: {errors[10]:.2f}, k = 1: {errors[1]:.2f}); target within 0.1")  # fmt: skip
        return passed(name, result) if errors[1000] < 0.1 else failed(name, result)

    return measure_after_steps(name, steps, measure)


# ---------------------------------------------------------------------------------------
# The family's exercises (gengen_lib.exercises)
# ---------------------------------------------------------------------------------------


def reference_results(quick: bool = False) -> list[Verdict]:
    """The results' verdicts with the library's own functions in place of the learner's."""
    return [
        check_tiny_vae(reference_training_step, quick=quick),
        check_linear_gaussian_log_likelihood(GAUSSIAN_LOG_PROB.reference, IMPORTANCE_TERMS.reference,
                                             IMPORTANCE_LOG_LIKELIHOOD.reference),
    ]  # fmt: skip


EXERCISES = ExerciseSet(
    family="vae",
    short=by_name(check_kl_standard_normal, check_reparameterize, check_importance_log_likelihood),
    steps=by_name(check_bernoulli_log_likelihood, check_negative_elbo, check_training_step, check_gaussian_log_prob,
                  check_importance_terms),
    results=by_name(check_tiny_vae, check_linear_gaussian_log_likelihood),
    reference_results=reference_results,
)
