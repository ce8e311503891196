"""The variational autoencoder of the course, and the estimators that go with it.

Generative model: z ~ N(0, I_D), x_m | z ~ Bernoulli(f_theta(z)_m) independently for the
784 pixels, where every f_theta(z)_m depends on the whole of z. Inference model:
q_phi(z | x) = N(mu_phi(x), diag(sigma_phi(x)^2)). All log-probabilities are in nats
per image; "ELBO" is the evidence lower bound (a log-likelihood bound, higher is better).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .data import IMAGE_SHAPE, PIXELS, binarize, intensities, load_mnist
from .densities import bernoulli_log_prob, gaussian_log_prob, standard_normal_log_prob
from .family import Family, MeasureOptions, explorer_exporter
from .runs import MNIST_TRAINING_HELP, RunSettings, cached_json, run_dir
from .runtime import pick_device
from .training import History, fit_run, optimizer_step


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form, in nats. (N, D) -> (N,).

    Per dimension: (sigma^2 + mu^2 - log sigma^2 - 1) / 2.
    """
    return 0.5 * (logvar.exp() + mu.pow(2) - logvar - 1.0).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): a sample of q that is differentiable in (mu, logvar)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


@dataclass
class ELBOTerms:
    """Per-example parts of the bound (each (N,), nats): elbo = reconstruction - kl."""

    elbo: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


class VAE(nn.Module):
    """Encoder 784 -> hidden -> (mu, log sigma^2) and decoder z_dim -> hidden -> 784 Bernoulli logits."""

    def __init__(self, z_dim: int = 20, hidden: int = 500):
        super().__init__()
        if z_dim < 1 or hidden < 1:
            raise ValueError(f"z_dim and hidden must be positive, got {z_dim} and {hidden}")
        self.z_dim = z_dim
        self.encoder = nn.Sequential(nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, 2 * z_dim))
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 784) -> mean and log-variance of q(z | x), each (N, z_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., z_dim) -> Bernoulli logits (..., 784). The means are their sigmoid."""
        return self.decoder(z)

    def elbo_terms(self, x: torch.Tensor) -> ELBOTerms:
        """One-sample estimate of the ELBO per example: E_q[log p(x|z)] - KL(q(z|x) || p(z))."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        reconstruction = bernoulli_log_prob(self.decode(z), x)
        kl = kl_standard_normal(mu, logvar)
        return ELBOTerms(reconstruction - kl, reconstruction, kl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The training loss: the negative ELBO averaged over the batch, in nats per image."""
        return -self.elbo_terms(x).elbo.mean()

    def sample(self, n: int, *, generator: torch.Generator | None = None, binary: bool = False) -> torch.Tensor:
        """Ancestral sampling: z ~ N(0, I), then the decoder's pixel means f(z) or, with
        ``binary``, a draw x ~ Bernoulli(f(z)). Returns images (n, 1, 28, 28) in [0, 1]."""
        with torch.no_grad():
            p = next(self.parameters())
            z = torch.randn(n, self.z_dim, generator=generator, device=p.device, dtype=p.dtype)
            means = torch.sigmoid(self.decode(z))
            if binary:
                u = torch.rand(means.shape, generator=generator, device=p.device, dtype=p.dtype)
                means = (u < means).to(p.dtype)
            return means.reshape(n, 1, *IMAGE_SHAPE)


def log_likelihood(
    model: VAE, x: torch.Tensor, k: int = 5000, chunk_rows: int = 2048, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Importance-sampling estimate of log p(x) with q(z | x) as proposal, in nats. (N, 784) -> (N,).

    log p(x) ~= log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x), z_i ~ q(z | x), via logsumexp.
    Its expectation is the IWAE bound: at least the ELBO, rising to log p(x) as k grows.

    The k decoder passes run in blocks of about ``chunk_rows`` (sample, image) rows, so
    memory stays bounded (about chunk_rows x 784 floats) and each block's logits are still
    in cache when the Bernoulli log-likelihood, x.l - softplus(l), is summed. The noise is
    drawn one sample (an (N, D) draw) at a time, so the result does not depend on
    ``chunk_rows`` (torch's normal draws of different sizes are not prefixes of each other).
    """
    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        per_block = max(1, chunk_rows // len(x))
        log_w = []
        for start in range(0, k, per_block):
            m = min(per_block, k - start)
            eps = torch.stack(
                [torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype) for _ in range(m)]
            )
            z = torch.addcmul(mu, std, eps)  # (m, N, D)
            logits = model.decode(z)
            log_px_z = torch.einsum("mnd,nd->mn", logits, x) - F.softplus(logits).sum(-1)
            log_w.append(log_px_z + standard_normal_log_prob(z) - gaussian_log_prob(z, mu, logvar))
        return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)


def prior_log_likelihood(model: VAE, x: torch.Tensor, samples: int = 1000, chunk: int = 500) -> torch.Tensor:
    """The naive estimate log (1/L) sum_i p(x | z_i) with z_i ~ p(z), in nats. (N, 784) -> (N,).

    Consistent but biased low for finite L (Jensen), and hopeless in practice: almost no
    prior sample explains a given digit, so it needs astronomically many samples.
    """
    with torch.no_grad():
        log_p = []
        for start in range(0, samples, chunk):
            m = min(chunk, samples - start)
            z = torch.randn(m, len(x), model.z_dim, device=x.device, dtype=x.dtype)
            log_p.append(bernoulli_log_prob(model.decode(z), x))
        return torch.logsumexp(torch.cat(log_p), dim=0) - math.log(samples)


# ---------------------------------------------------------------------------------------
# Training on binarized MNIST
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VAESettings(RunSettings):
    """A VAE training run: the report's model and optimiser (Adam 1e-3, batch 128).

    ``dynamic_binarization``: each time a training image is used it is binarized afresh
    (pixel ~ Bernoulli(k/255)), instead of once with a fixed seed. The model sees 100
    different binary versions of each digit over 100 epochs and overfits far less;
    validation and test data stay the fixed-seed binarization, so likelihoods compare.
    """

    z_dim: int = 20
    hidden: int = 500
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 100
    seed: int = 0
    train_subset: int | None = None
    dynamic_binarization: bool = True

    # The CI setting: 5,000 images, 2 epochs (seconds on a CPU).
    QUICK: ClassVar[dict] = {"epochs": 2, "train_subset": 5000}
    HELP: ClassVar[dict[str, str]] = {
        **MNIST_TRAINING_HELP,
        "z_dim": "latent dimension",
        "hidden": "width of the encoder's and decoder's hidden layer",
        "dynamic_binarization": "binarize each training image afresh every time it is used",
    }


def load_or_train_vae(
    settings: VAESettings, device: torch.device | None = None, **options
) -> tuple[VAE, History]:  # pragma: no mutate block (training recipe)
    """Train (or resume, or load) a VAE on binarized MNIST; returns (model, history).

    Each epoch records the training averages ``elbo``, ``reconstruction`` and ``kl`` and
    the validation ``valid_elbo`` (nats per image, on the fixed-seed binarized validation set).
    ``options`` go to :func:`~gengen_lib.training.fit_run`: ``out_dir``, ``quiet``, ``skip_nonfinite``.
    """
    device = device or pick_device()
    torch.manual_seed(settings.seed)
    model = build_vae(settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    images = load_mnist("train").subset(settings.train_subset).images
    train = intensities(images) if settings.dynamic_binarization else binarize(images)
    valid = binarize(load_mnist("valid").images).to(device)
    binarizer = torch.Generator().manual_seed(settings.seed + 1)

    def step(batch):
        (x,) = batch
        if settings.dynamic_binarization:  # x holds intensities in [0, 1]: draw this epoch's binary image
            x = (torch.rand(x.shape, generator=binarizer) < x).float()
        x = x.to(device)
        parts = model.elbo_terms(x)
        optimizer_step(optimizer, -parts.elbo.mean())
        return {k: getattr(parts, k).mean().item() for k in ("elbo", "reconstruction", "kl")}

    def evaluate():
        return {"valid_elbo": torch.cat([model.elbo_terms(v).elbo for v in valid.split(1000)]).mean().item()}

    def snapshot():
        means = model.sample(16, generator=torch.Generator(device=device).manual_seed(3))
        draws = model.sample(16, generator=torch.Generator(device=device).manual_seed(3), binary=True)
        return torch.cat([means, draws]).cpu()

    history = fit_run(
        "vae", settings, model, {"adam": optimizer}, step, (train,), evaluate=evaluate, snapshot=snapshot,
        generators={"binarization": binarizer}, **options,
    )
    model.eval()
    return model, history


# ---------------------------------------------------------------------------------------
# What the chapter measures on a trained model
# ---------------------------------------------------------------------------------------


def reconstruction_gradients(
    model: VAE, x: torch.Tensor, n: int, estimator: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n single-sample estimates of the gradient of E_q[log p(x | z)] w.r.t. q's (mu, logvar).

    x is one image (784,). ``estimator`` is ``"reparameterization"`` (differentiate through
    z = mu + sigma * eps) or ``"score_function"`` (REINFORCE: log p(x|z) * grad log q(z)).
    Both are unbiased for the same gradient. Returns (n, 2 * z_dim): [d/dmu, d/dlogvar].
    """
    if estimator not in ("reparameterization", "score_function"):
        raise ValueError(f"unknown estimator {estimator!r}")
    with torch.no_grad():
        mu0, logvar0 = model.encode(x[None])
    mu = mu0.expand(n, -1).clone().requires_grad_(True)
    logvar = logvar0.expand(n, -1).clone().requires_grad_(True)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    if estimator == "reparameterization":
        z = mu + torch.exp(0.5 * logvar) * eps
        surrogate = bernoulli_log_prob(model.decode(z), x[None])
    else:
        z = (mu + torch.exp(0.5 * logvar) * eps).detach()
        with torch.no_grad():
            f = bernoulli_log_prob(model.decode(z), x[None])
        surrogate = f * gaussian_log_prob(z, mu, logvar)
    grad_mu, grad_logvar = torch.autograd.grad(surrogate.sum(), (mu, logvar))
    return torch.cat([grad_mu, grad_logvar], dim=-1)


def latent_grid(n: int = 20, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """An n x n grid of 2-d latents: the standard normal's inverse CDF at evenly spaced
    probabilities in [low, high]^2. Returns (n * n, 2), rows from top (high z2) to bottom."""
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(low, high, n))
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")
    return torch.stack([z1.flatten(), z2.flatten()], dim=-1)


def encode_means(model: VAE, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Posterior means mu(x) for many images. (N, 784) -> (N, z_dim)."""
    with torch.no_grad():
        return torch.cat([model.encode(b)[0] for b in x.split(batch_size)])


@torch.no_grad()
def principal_directions(model: VAE, x: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Origin (z_dim,) and ``k`` directions (k, z_dim) through the posterior means of images ``x`` (N, 784).

    The codes' mean is the origin; the leading right singular vectors of the centred codes,
    each scaled by the codes' overall standard deviation, are the directions (the VAE chapter's
    walk and the latent explorer's sliders). Also returns a summary: the codes' std and mean
    norm, the std along each direction and the fraction of the codes' variance each carries.
    """
    codes = encode_means(model, x).cpu()
    center = codes.mean(0)
    _, s, v = torch.linalg.svd(codes - center, full_matrices=False)
    scale = codes.std()
    info = {
        "codes": len(codes),
        "codes_std": scale.item(),
        "codes_norm": codes.norm(dim=1).mean().item(),
        "pc_std": (s[:k] / (len(codes) - 1) ** 0.5).tolist(),
        "explained_variance": ((s[:k] ** 2) / (s**2).sum()).tolist(),
    }
    return center, v[:k] * scale, info


def dataset_log_likelihood(model: VAE, x: torch.Tensor, k: int, batch_size: int = 100) -> torch.Tensor:
    """:func:`log_likelihood` over a whole data set in batches. (N, 784) -> (N,) nats."""
    with torch.no_grad():
        return torch.cat([log_likelihood(model, b, k) for b in x.split(batch_size)])


def test_set_metrics(
    model: VAE, settings: VAESettings, k: int = 5000, n: int | None = None, seed: int = 0, cache: bool = True
) -> dict:  # pragma: no mutate block (evaluation recipe: runs cache, timing)
    """Test-set ELBO and importance-sampled log-likelihood (nats per image) with its standard error.

    Uses the first ``n`` fixed-seed binarized test images (all 10,000 when None; with one
    image the standard error is None, not NaN, so the result stays valid JSON). The IS
    estimate costs k decoder passes per image, so with ``cache`` it is computed once per
    trained run and stored in the run directory.
    """
    x = binarize(load_mnist("test").images)[:n]

    def compute():
        device = next(model.parameters()).device
        torch.manual_seed(seed)
        start = time.perf_counter()
        with torch.no_grad():
            elbos = torch.cat([model.elbo_terms(b.to(device)).elbo for b in x.split(1000)]).cpu()
        ll = dataset_log_likelihood(model, x.to(device), k=k).cpu()
        return {
            "elbo": elbos.mean().item(),
            "ll": ll.mean().item(),
            "ll_sem": (ll.std() / len(ll) ** 0.5).item() if len(ll) > 1 else None,  # one image: no spread (null)
            "seconds": time.perf_counter() - start,
            "n": len(x),
            "k": k,
        }

    if not cache:
        return compute()
    return cached_json(run_dir("vae", settings) / f"test_metrics_k{k}_n{len(x)}.json", compute)


# ---------------------------------------------------------------------------------------
# The family's record (gengen_lib.families)
# ---------------------------------------------------------------------------------------


def build_vae(settings: VAESettings) -> VAE:
    return VAE(settings.z_dim, settings.hidden)


def _measure(model: VAE, settings: VAESettings, options: MeasureOptions) -> dict:
    """Test ELBO and importance-sampled log-likelihood with its standard error (nats per image)."""
    return test_set_metrics(model, settings, k=options.k, n=options.n, cache=False)


FAMILY = Family(
    name="vae",
    summary="variational autoencoder on binarized MNIST (chapter 1)",
    settings=VAESettings,
    build=build_vae,
    train=load_or_train_vae,
    measure=_measure,
    shipped={"vae-z20": VAESettings(z_dim=20), "vae-z2": VAESettings(z_dim=2)},
    exporter=explorer_exporter("vae", "export_book_decoders"),
    exercises="exercises_vae",
    label="VAE",
    compared=("vae-z20",),
    sample_cost="1 decoder pass",
)
