"""Flow matching: a continuous-time normalizing flow trained by regression, not by likelihood.

Convention (the one of Lipman et al. 2023): time runs from noise to data. ``t = 0`` is the
standard normal source ``x0``, ``t = 1`` is the data ``x1``; the straight conditional path
is ``x_t = (1 - t) x0 + t x1`` and its velocity ``x1 - x0``. A network ``v(x, t)`` learns the
marginal velocity by minimising :func:`conditional_flow_matching_loss`; sampling solves
``dx/dt = v(x, t)`` from 0 to 1, and the log-density comes from the instantaneous change of
variables ``d log p_t(x_t) / dt = -div v(x_t, t)`` solved from 1 back to 0.

On MNIST the flow lives where chapter 3's RealNVP lives: dequantized pixels ``u`` in
[0, 1]^784 pass through the logit step ``y = logit(alpha + (1 - 2 alpha) u)`` (its
log-determinant is counted), so :func:`flows.bits_per_dim` applies unchanged.

The ODE solvers are torchdiffeq's (fixed-step ``euler``, ``midpoint``, ``rk4`` and the adaptive
``dopri5``); what the chapter teaches (the path, the loss, the divergence) is written here.
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torchdiffeq import odeint
from tqdm.auto import tqdm

from . import quality
from .data import IMAGE_SHAPE, PIXELS, dequantize, load_mnist
from .densities import standard_normal_log_prob
from .family import Family, MeasureOptions
from .flows import LogitTransform, bits_per_dim
from .runs import MNIST_TRAINING_HELP, RunSettings
from .runtime import pick_device
from .training import History, fit_run, optimizer_step

FIXED_STEP_METHODS = ("euler", "midpoint", "rk4")
ADAPTIVE_METHODS = ("dopri5",)


# ---------------------------------------------------------------------------------------
# The path and the loss
# ---------------------------------------------------------------------------------------


def straight_path(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The straight conditional path and its velocity: x_t = (1 - t) x0 + t x1, u_t = x1 - x0.

    ``x0``, ``x1``: (N, ...); ``t``: (N,), broadcast over the other dimensions.
    """
    t = t.reshape(-1, *([1] * (x1.dim() - 1)))
    return (1 - t) * x0 + t * x1, x1 - x0


def conditional_flow_matching_loss(
    velocity: nn.Module, x1: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mean over the batch of |v(x_t, t) - (x1 - x0)|^2 (summed over dimensions), t ~ U[0, 1], x0 ~ N(0, I).

    Its gradient equals that of the (intractable) marginal loss |v(x_t, t) - u_t(x_t)|^2: the
    two differ by a term that does not depend on the network (the flow-matching chapter derives it).
    """
    x0 = torch.randn(x1.shape, generator=generator, dtype=x1.dtype).to(x1.device)
    t = torch.rand(len(x1), generator=generator, dtype=x1.dtype).to(x1.device)
    xt, target = straight_path(x0, x1, t)
    return (velocity(xt, t) - target).pow(2).flatten(1).sum(-1).mean()


# ---------------------------------------------------------------------------------------
# Velocity networks
# ---------------------------------------------------------------------------------------


def time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1]: (N,) -> (N, dim), frequencies 1 to 1000 (geometric)."""
    half = dim // 2
    frequencies = torch.exp(torch.linspace(0, math.log(1000.0), half, device=t.device, dtype=t.dtype))
    angles = 2 * math.pi * t[:, None] * frequencies[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class MLPVelocity(nn.Module):
    """v(x, t) for points in R^dim: an MLP on (x, t features). (N, dim), (N,) -> (N, dim)."""

    def __init__(self, dim: int = 2, hidden: int = 128, time_dim: int = 16):
        super().__init__()
        self.time_dim = time_dim
        self.net = nn.Sequential(
            nn.Linear(dim + time_dim, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, dim),
        )  # fmt: skip

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.expand(len(x)) if t.dim() == 0 else t
        return self.net(torch.cat([x, time_features(t, self.time_dim)], dim=-1))


class ResidualBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time embedding added in between, and a skip connection."""

    def __init__(self, c_in: int, c_out: int, time_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(embedding)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNetVelocity(nn.Module):
    """v(x, t) for 28x28 images: a small convolutional U-Net. (N, 784) or (N, 1, 28, 28), (N,) -> same shape.

    Two resolutions below the input (28 -> 14 -> 7), ``channels`` and ``2 channels`` wide,
    one residual block per level on the way down and up, two in the middle, skip connections
    across. Convolutions share weights across positions, which an MLP cannot: a stroke is
    the same stroke anywhere in the image.
    """

    def __init__(self, channels: int = 32, time_dim: int = 64):
        super().__init__()
        c, c2 = channels, 2 * channels
        self.time_dim = time_dim
        self.embed = nn.Sequential(nn.Linear(time_dim, 2 * time_dim), nn.SiLU(), nn.Linear(2 * time_dim, time_dim))
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.down28 = ResidualBlock(c, c, time_dim)
        self.to14 = nn.Conv2d(c, c2, 3, stride=2, padding=1)
        self.down14 = ResidualBlock(c2, c2, time_dim)
        self.to7 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.mid1, self.mid2 = ResidualBlock(c2, c2, time_dim), ResidualBlock(c2, c2, time_dim)
        self.up14 = ResidualBlock(2 * c2, c2, time_dim)
        self.up28 = ResidualBlock(c2 + c, c, time_dim)
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(len(x), 1, *IMAGE_SHAPE)
        t = t.expand(len(x)) if t.dim() == 0 else t
        e = self.embed(time_features(t, self.time_dim))
        h28 = self.down28(self.inp(x), e)
        h14 = self.down14(self.to14(h28), e)
        h = self.mid2(self.mid1(self.to7(h14), e), e)
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.up14(torch.cat([h, h14], 1), e)
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.up28(torch.cat([h, h28], 1), e)
        return self.out(h).reshape(shape)


# ---------------------------------------------------------------------------------------
# Solving the ODE: sampling and likelihood
# ---------------------------------------------------------------------------------------


class _CountingField(nn.Module):
    """dx/dt = v(x, t) for torchdiffeq, counting the function evaluations (``nfe``)."""

    def __init__(self, velocity: nn.Module):
        super().__init__()
        self.velocity, self.nfe = velocity, 0

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.velocity(x, t.expand(len(x)))


def _solver_options(method: str, steps: int | None, rtol: float, atol: float) -> dict:
    if method in FIXED_STEP_METHODS:
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"method {method!r} needs a positive whole number of steps, got {steps!r}")
        return {"method": method, "options": {"step_size": 1.0 / steps}}
    if method in ADAPTIVE_METHODS:
        return {"method": method, "rtol": rtol, "atol": atol}
    known = ", ".join(FIXED_STEP_METHODS + ADAPTIVE_METHODS)
    raise ValueError(f"unknown ODE method {method!r}; choose one of {known}")


def integrate(
    velocity: nn.Module,
    x: torch.Tensor,
    t0: float = 0.0,
    t1: float = 1.0,
    method: str = "midpoint",
    steps: int | None = 50,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> tuple[torch.Tensor, int]:
    """Carry ``x`` (N, ...) from time t0 to t1 along dx/dt = v(x, t); returns (x(t1), function evaluations)."""
    field = _CountingField(velocity)
    times = torch.tensor([t0, t1], device=x.device, dtype=x.dtype)
    with torch.no_grad():
        out = odeint(field, x, times, **_solver_options(method, steps, rtol, atol))[-1]
    return out, field.nfe


def trajectory(velocity: nn.Module, x0: torch.Tensor, times: torch.Tensor, method: str = "midpoint",
               steps: int = 50) -> torch.Tensor:  # fmt: skip
    """x(t) at each of ``times`` (T,), starting from x0 at times[0]: (T, N, ...)."""
    with torch.no_grad():
        return odeint(_CountingField(velocity), x0, times.to(x0), **_solver_options(method, steps, 1e-5, 1e-5))


def exact_divergence(velocity: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """div_x v(x, t) = trace of the Jacobian, one autograd pass per dimension: (N, D), (N,) -> (N,).

    Exact, and affordable for small D (the 2-d examples); 784 passes per step on MNIST.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = velocity(x, t)
        total = torch.zeros(len(x), device=x.device, dtype=x.dtype)
        for i in range(x.shape[1]):
            total = total + torch.autograd.grad(v[:, i].sum(), x, retain_graph=True)[0][:, i]
    return total


def hutchinson_divergence(velocity: nn.Module, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Unbiased estimate eps^T (dv/dx) eps of the divergence, one vector-Jacobian product: (N, D) -> (N,).

    ``noise`` (N, D) has mean 0 and identity covariance (Rademacher or Gaussian); E[eps^T J eps] = tr J.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = velocity(x, t)
        (vjp,) = torch.autograd.grad(v, x, noise)
    return (vjp * noise).flatten(1).sum(-1)


class _AugmentedField(nn.Module):
    """d/dt [x, delta] = [v(x, t), div v(x, t)] for the change of variables."""

    def __init__(self, velocity: nn.Module, noise: torch.Tensor | None):
        super().__init__()
        self.velocity, self.noise, self.nfe = velocity, noise, 0

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        x, _ = state
        self.nfe += 1
        tt = t.expand(len(x))
        if self.noise is None:
            div = exact_divergence(self.velocity, x, tt)
        else:
            div = hutchinson_divergence(self.velocity, x, tt, self.noise)
        with torch.no_grad():
            v = self.velocity(x, tt)
        return v, div


def ode_log_prob(
    velocity: nn.Module,
    x1: torch.Tensor,
    *,
    t: float = 1.0,
    exact: bool = False,
    generator: torch.Generator | None = None,
    method: str = "dopri5",
    steps: int | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> tuple[torch.Tensor, int]:
    """log p_t(x1) in nats per example, (N, D) -> (N,), and the function evaluations used (t = 1: the data).

    Solves [x, delta] from time t back to 0 (noise) with delta(t) = 0, so that
    delta(0) = -int_0^t div v ds and log p_t(x1) = log N(x(0); 0, I) + delta(0).
    ``exact``: the trace by autograd (small D); otherwise Hutchinson's estimator with one
    Rademacher vector per example, held fixed along the path (so the estimate is unbiased).
    """
    if t == 0:  # nothing to integrate: p_0 is the standard normal
        return standard_normal_log_prob(x1.flatten(1)), 0
    noise = None
    if not exact:
        noise = torch.randint(0, 2, x1.shape, generator=generator, device="cpu").to(x1) * 2 - 1
    field = _AugmentedField(velocity, noise)
    times = torch.tensor([t, 0.0], device=x1.device, dtype=x1.dtype)
    delta = torch.zeros(len(x1), device=x1.device, dtype=x1.dtype)
    x0, delta0 = odeint(field, (x1, delta), times, **_solver_options(method, steps, rtol, atol))
    return standard_normal_log_prob(x0[-1].flatten(1)) + delta0[-1].detach(), field.nfe


# ---------------------------------------------------------------------------------------
# The model: a velocity network, its moving average, and the data space
# ---------------------------------------------------------------------------------------


class FlowMatchingModel(nn.Module):
    """A continuous flow: the trained velocity network ``net`` and its exponential moving average ``ema``.

    The average is what samples and likelihoods use (``velocity``); ``net`` is what the optimizer
    moves. On images (``image_shape`` set) inputs are dequantized pixels in [0, 1]^D that the
    logit step maps onto the real line first; otherwise the flow models raw points in R^D.
    """

    def __init__(self, net: nn.Module, dim: int, image_shape: tuple[int, int] | None, logit_alpha: float | None):
        super().__init__()
        self.net = net
        self.ema = copy.deepcopy(net).requires_grad_(False)
        self.dim, self.image_shape = dim, image_shape
        self.preprocess = LogitTransform(logit_alpha) if logit_alpha is not None else None

    @property
    def velocity(self) -> nn.Module:
        return self.ema

    @torch.no_grad()
    def update_average(self, decay: float) -> None:
        """ema <- decay * ema + (1 - decay) * net, parameter by parameter."""
        for average, current in zip(self.ema.parameters(), self.net.parameters(), strict=True):
            average.lerp_(current, 1 - decay)

    @torch.no_grad()
    def remove_average_bias(self, initial: nn.Module, decay: float, updates: int) -> None:
        """Rescale the average so that it weighs only trained weights: (ema - decay^n initial) / (1 - decay^n).

        An average started at the initial weights keeps decay^n of them after n updates (10% after
        2,300 updates at decay 0.999); this is the correction Adam applies to its moments.
        """
        if updates < 1:
            return
        kept = decay**updates
        for average, start in zip(self.ema.parameters(), initial.parameters(), strict=True):
            average.sub_(kept * start).div_(1 - kept)

    def to_flow_space(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data (N, D) -> (the flow's coordinates (N, D), log|det| (N,)); the identity for raw points."""
        if self.preprocess is None:
            return u, torch.zeros(len(u), device=u.device, dtype=u.dtype)
        return self.preprocess(u)

    def log_prob(self, u: torch.Tensor, **solver) -> tuple[torch.Tensor, int]:
        """log p(u) in nats per example (N, D) -> (N,), and the function evaluations (see :func:`ode_log_prob`)."""
        y, log_det = self.to_flow_space(u)
        log_p, nfe = ode_log_prob(self.velocity, y, **solver)
        return log_p + log_det, nfe

    def sample(self, n: int, *, generator: torch.Generator | None = None, method: str = "midpoint",
               steps: int | None = 50, temperature: float = 1.0) -> torch.Tensor:  # fmt: skip
        """x0 ~ N(0, temperature^2 I) carried to t = 1. Images (n, 1, H, W) in [0, 1], or raw points (n, D)."""
        return self.sample_counted(n, generator=generator, method=method, steps=steps, temperature=temperature)[0]

    def sample_counted(self, n: int, *, generator: torch.Generator | None = None, method: str = "midpoint",
                       steps: int | None = 50, temperature: float = 1.0, rtol: float = 1e-5,
                       atol: float = 1e-5) -> tuple[torch.Tensor, int]:  # fmt: skip
        """:meth:`sample` and the velocity evaluations it took (an adaptive ``method`` such as dopri5 takes
        ``steps=None`` and the tolerances ``rtol``, ``atol``)."""
        p = next(self.parameters())
        x0 = torch.randn(n, self.dim, generator=generator, device="cpu", dtype=p.dtype).to(p.device) * temperature
        x, evaluations = integrate(self.velocity, x0, method=method, steps=steps, rtol=rtol, atol=atol)
        if self.preprocess is None:
            return x, evaluations
        return self.preprocess.inverse(x).clamp(0, 1).reshape(n, 1, *self.image_shape), evaluations


def dequantized_bits_per_dim(
    model: FlowMatchingModel, images: torch.Tensor, generator: torch.Generator | None = None,
    batch_size: int = 250, progress: bool = False, **solver,
) -> list[float]:  # fmt: skip
    """Bits/dim of each uint8 image (N, 28, 28), one dequantization and one Hutchinson draw each.

    ``progress``: a progress bar over images on stderr (a likelihood costs about a second per image on a CPU).
    """
    p = next(model.parameters())
    out = []
    bar = tqdm(total=len(images), desc="bits/dim", unit="image", disable=not progress, file=sys.stderr)
    for start in range(0, len(images), batch_size):
        u = dequantize(images[start : start + batch_size], generator).to(p.device, p.dtype)
        log_p, _ = model.log_prob(u, generator=generator, **solver)
        out += bits_per_dim(log_p).tolist()
        bar.update(len(log_p))
    bar.close()
    return out


# ---------------------------------------------------------------------------------------
# Training on MNIST
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowMatchingSettings(RunSettings):
    """Everything that defines a flow-matching run on MNIST (in chapter 3's dequantized logit space)."""

    channels: int = 32
    logit_alpha: float = 0.05
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 4  # the shipped model: about 70 minutes on two CPU cores
    ema_decay: float = 0.999
    max_grad_norm: float = 1.0
    seed: int = 0
    train_subset: int | None = None
    eval_subset: int | None = None

    # The CI setting: a narrow network, 2,000 images, 1 epoch.
    QUICK: ClassVar[dict] = {"epochs": 1, "train_subset": 2000, "eval_subset": 64, "channels": 8}
    HELP: ClassVar[dict[str, str]] = {
        **MNIST_TRAINING_HELP,
        "channels": "channels of the U-Net's first level (twice as many below)",
        "logit_alpha": "the logit step's margin alpha in logit(alpha + (1 - 2 alpha) u)",
        "ema_decay": "decay of the weights' moving average that samples and likelihoods use",
        "max_grad_norm": "gradient norm clip (the loss is per pixel)",
        "eval_subset": "validation images for the end-of-epoch loss (default: 2,000)",
    }


def build_flow_matching(settings: FlowMatchingSettings) -> FlowMatchingModel:
    return FlowMatchingModel(UNetVelocity(settings.channels), PIXELS, IMAGE_SHAPE, settings.logit_alpha)


def load_or_train_flow_matching(
    settings: FlowMatchingSettings, device: torch.device | None = None, **options
) -> tuple[FlowMatchingModel, History]:  # pragma: no mutate block (training recipe)
    """Train (or resume, or load) a flow-matching model on dequantized MNIST; returns (model, history).

    Each epoch records ``loss`` (the conditional flow-matching loss per pixel, mean over the
    epoch) and ``valid_loss`` (the same loss of the running average of the weights on
    ``eval_subset`` validation images, fixed noise; early on it still leans on the initial
    weights). The returned model's average has that initial bias removed
    (:meth:`FlowMatchingModel.remove_average_bias`); checkpoints keep the running average.
    ``options`` go to :func:`~gengen_lib.training.fit_run`.
    """
    device = device or pick_device()
    torch.manual_seed(settings.seed)
    model = build_flow_matching(settings).to(device)
    initial = copy.deepcopy(model.net)
    optimizer = torch.optim.Adam(model.net.parameters(), lr=settings.lr)
    train = load_mnist("train").subset(settings.train_subset)
    valid = load_mnist("valid").images[: settings.eval_subset or 2000]
    noise = torch.Generator().manual_seed(settings.seed + 1)

    def step(batch):
        (images,) = batch
        y, _ = model.to_flow_space(dequantize(images, noise).to(device))
        loss = conditional_flow_matching_loss(model.net, y, noise) / PIXELS  # per pixel, so the clip is scale-free
        optimizer_step(optimizer, loss, settings.max_grad_norm)
        model.update_average(settings.ema_decay)
        return {"loss": loss.item()}

    def evaluate():
        g = torch.Generator().manual_seed(2)
        total = 0.0
        for start in range(0, len(valid), 500):
            y, _ = model.to_flow_space(dequantize(valid[start : start + 500], g).to(device))
            total += conditional_flow_matching_loss(model.velocity, y, g).item() * len(y)
        return {"valid_loss": total / len(valid) / PIXELS}

    def snapshot():
        return model.sample(64, generator=torch.Generator().manual_seed(3), steps=20).cpu()

    history = fit_run(
        "flow_matching", settings, model, {"adam": optimizer}, step, (train.images,), evaluate=evaluate,
        snapshot=snapshot, generators={"noise": noise}, **options,
    )  # fmt: skip
    model.remove_average_bias(initial, settings.ema_decay, len(history.steps.get("loss", [])))
    model.eval()
    return model, history


# ---------------------------------------------------------------------------------------
# A Gaussian mixture, where the marginal path is known in closed form
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GaussianMixture:
    """Data p_1 = sum_k weights_k N(means_k, sigma^2 I): means (K, D), weights (K,) summing to 1.

    Under the straight path from N(0, I), p_t is again a mixture: component k becomes
    N(t means_k, s_t^2 I) with s_t^2 = (1 - t)^2 + t^2 sigma^2, which gives the marginal
    velocity and the score exactly (the flow-matching chapter derives both).
    """

    means: torch.Tensor
    sigma: float
    weights: torch.Tensor

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points (n, D) from p_1."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.means.shape[1], generator=generator, dtype=self.means.dtype)
        return self.means[k] + self.sigma * noise

    def _components(self, x: torch.Tensor, t: torch.Tensor):
        t = t.reshape(-1, 1, 1)  # (N, 1, 1) against (1, K, D)
        var = (1 - t) ** 2 + t**2 * self.sigma**2
        centre = t * self.means[None]
        d = x.shape[-1]
        log_w = (
            torch.log(self.weights)[None]
            - 0.5 * ((x[:, None] - centre) ** 2).sum(-1) / var[..., 0]
            - 0.5 * d * torch.log(2 * math.pi * var[..., 0])
        )
        return t, var, centre, log_w

    def log_density(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log p_t(x): (N, D), (N,) -> (N,) nats."""
        *_, log_w = self._components(x, t)
        return torch.logsumexp(log_w, dim=1)

    def marginal_velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """u_t(x) = E[x1 - x0 | x_t = x]: (N, D), (N,) -> (N, D).

        Per component, Gaussian conditioning gives mu_k + (t sigma^2 - (1 - t)) / s_t^2 (x - t mu_k);
        the marginal weighs them by the posterior probability of each component at x.
        """
        t, var, centre, log_w = self._components(x, t)
        per_component = self.means[None] + (t * self.sigma**2 - (1 - t)) / var * (x[:, None] - centre)
        return (torch.softmax(log_w, dim=1)[..., None] * per_component).sum(1)


def score_from_velocity(velocity: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The score grad log p_t(x) of the straight path from N(0, I): (t u_t(x) - x) / (1 - t), for t < 1.

    Since x_t = (1 - t) x0 + t x1 with Gaussian x0, Tweedie's formula gives
    grad log p_t(x) = -E[x0 | x_t = x] / (1 - t), and E[x0 | x_t = x] = x - t u_t(x).
    (N, D), (N, D), (N,) -> (N, D).
    """
    t = t.reshape(-1, *([1] * (x.dim() - 1)))
    return (t * velocity - x) / (1 - t)


# ---------------------------------------------------------------------------------------
# Measuring a trained MNIST model
# ---------------------------------------------------------------------------------------


def bits_per_dim_on_test_images(
    model: FlowMatchingModel, n: int, seed: int = 0, batch_size: int = 100, progress: bool = False, **solver
) -> dict:
    """Bits/dim of the first ``n`` test images (dequantization and Hutchinson noise drawn from ``seed``).

    Returns ``bpd`` (mean), ``bpd_sem`` (its standard error over images, which also carries the
    noise of the single dequantization and trace draws) and ``n``.
    """
    images = load_mnist("test").images[:n]
    values = torch.tensor(dequantized_bits_per_dim(model, images, torch.Generator().manual_seed(seed),
                                                   batch_size=batch_size, progress=progress, **solver))  # fmt: skip
    sem = values.std().item() / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return {"bpd": values.mean().item(), "bpd_sem": sem, "n": len(values)}


def sample_batches(model: FlowMatchingModel, n: int, seed: int, batch_size: int = 500, progress: bool = False,
                   **solver) -> torch.Tensor:  # fmt: skip
    """``n`` images (n, 1, 28, 28) drawn in batches from one seeded generator (a progress bar if ``progress``)."""
    generator = torch.Generator().manual_seed(seed)
    starts = tqdm(range(0, n, batch_size), desc=f"sampling ({solver.get('method', 'midpoint')})", unit="batch",
                  disable=not progress, file=sys.stderr)  # fmt: skip
    return torch.cat([model.sample(min(batch_size, n - start), generator=generator, **solver) for start in starts])


SHIPPED_SOLVER = {"method": "midpoint", "steps": 10}  # 20 velocity evaluations per sample
# The likelihood ODE of the trained MNIST model is stiff for dopri5 at 1e-5 (minutes per batch on a CPU):
# a fixed-step rk4 bounds the cost (64 evaluations, each with a vector-Jacobian product).
LIKELIHOOD_SOLVER = {"method": "rk4", "steps": 16}
CURVE_SOLVERS = [("euler", s) for s in (2, 4, 8, 16, 32)] + [("midpoint", s) for s in (2, 4, 8, 16)]


def measure(model: FlowMatchingModel, meter, samples: int = 10_000, curve_samples: int = 1_000,
            bpd_images: int = 500, seed: int = 0) -> dict:  # fmt: skip  # pragma: no mutate block (measurement)
    """The numbers the chapters quote for a trained MNIST flow-matching model.

    ``meter``: a :class:`~gengen_lib.quality.SampleQualityMeter`. Sample quality of ``samples`` draws
    with :data:`SHIPPED_SOLVER` and the milliseconds per sample it took; ``fid_by_evaluations``:
    MNIST-FID of ``curve_samples`` draws for each solver of :data:`CURVE_SOLVERS`, beside real
    validation images of the same number; ``test_bpd``: bits/dim of the first ``bpd_images``
    test images with its standard error (:data:`LIKELIHOOD_SOLVER`, Hutchinson's trace).
    """
    import time

    from .data import intensities

    start = time.perf_counter()
    images = sample_batches(model, samples, seed, progress=True, **SHIPPED_SOLVER)
    metrics = {**meter.summary(images), "solver": dict(SHIPPED_SOLVER), "samples": samples,
               "ms_per_sample": 1000 * (time.perf_counter() - start) / samples}  # fmt: skip
    points = []
    for method, steps in CURVE_SOLVERS:
        drawn = sample_batches(model, curve_samples, seed + 1, progress=True, method=method, steps=steps)
        nfe = steps * (2 if method == "midpoint" else 1)
        points.append({"method": method, "steps": steps, "nfe": nfe, "fid": meter.summary(drawn)["fid"]})
    real = meter.summary(intensities(load_mnist("valid").images[:curve_samples]))["fid"]
    metrics["fid_by_evaluations"] = {"samples": curve_samples, "real_fid": real, "points": points}
    metrics["test_bpd"] = {**bits_per_dim_on_test_images(model, bpd_images, seed=seed, progress=True,
                                                         **LIKELIHOOD_SOLVER),
                           "solver": dict(LIKELIHOOD_SOLVER)}
    return metrics


# ---------------------------------------------------------------------------------------
# The family's record (gengen_lib.families)
# ---------------------------------------------------------------------------------------


def _measure(model: FlowMatchingModel, settings: FlowMatchingSettings, options: MeasureOptions) -> dict:
    """:func:`measure` with the packing options: ``options.samples`` draws, ``options.bpd_images`` test images."""
    meter = quality.SampleQualityMeter(options.classifier())
    return measure(model, meter, samples=options.samples, bpd_images=options.bpd_images)


FAMILY = Family(
    name="flow_matching",
    summary="flow matching: a continuous flow trained by regression on dequantized MNIST",
    settings=FlowMatchingSettings,
    build=build_flow_matching,
    train=load_or_train_flow_matching,
    measure=_measure,
    shipped={"flow-matching": FlowMatchingSettings()},
    exercises="exercises_flow_matching",
    label="flow matching",
    compared=("flow-matching",),
    sample_options=SHIPPED_SOLVER,
    sample_cost=f"{2 * SHIPPED_SOLVER['steps']} velocity evaluations "
    f"({SHIPPED_SOLVER['method']}, {SHIPPED_SOLVER['steps']} steps)",
    scored_when_packed=True,
)
