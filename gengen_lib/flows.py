"""RealNVP: a normalizing flow built from affine coupling layers.

Direction convention (used everywhere in this course): ``forward`` maps **data to noise**,
``x -> z``, and returns the log-determinant of its Jacobian, so that

    log p(x) = log N(z; 0, I) + log |det dz/dx|.

``inverse`` maps noise to data; sampling draws z ~ N(0, T^2 I) and inverts the layers in
reverse order.

For 8-bit images the pipeline is: integers k -> dequantized y = (k + u)/256 in [0, 1]
(``data.dequantize``) -> logit transform (a flow layer with its own log-determinant) ->
coupling layers -> z. :func:`bits_per_dim` accounts for every step, so a uniform density
on [0, 256)^784 scores exactly 8 bits/dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from . import quality
from .data import IMAGE_SHAPE, PIXELS, dequantize, load_mnist
from .densities import standard_normal_log_prob
from .family import Family, MeasureOptions, explorer_exporter
from .runs import MNIST_TRAINING_HELP, RunSettings, count_parameters
from .runtime import pick_device
from .training import History, fit_run, optimizer_step


def checkerboard_mask(shape: tuple[int, int], parity: int = 0) -> torch.Tensor:
    """Flattened (H*W,) float mask: 1 where (row + col) % 2 == parity."""
    rows, cols = torch.meshgrid(
        torch.arange(shape[0], device="cpu"), torch.arange(shape[1], device="cpu"), indexing="ij"
    )
    return ((rows + cols) % 2 == parity).float().flatten()


def alternating_mask(dim: int, parity: int = 0) -> torch.Tensor:
    """(dim,) float mask: 1 on the indices i with i % 2 == parity (for non-image data)."""
    return (torch.arange(dim, device="cpu") % 2 == parity).float()


class AffineCoupling(nn.Module):
    """An affine coupling with a binary mask b: y_kept = x_kept, y_free = x_free * exp(s) + t.

    s and t are functions of the kept part only, so the Jacobian is triangular (after
    permuting) and log|det dy/dx| = sum(s). The layer is *packed*: its network reads only
    the kept coordinates (``kept_index``, where b = 1) and writes a scale and a shift only
    for the free ones (``free_index``, where b = 0); on a checkerboard that is 392 inputs
    and 2 x 392 outputs instead of 784-wide tensors multiplied by the mask, the same
    function class at about half the FLOPs. The conditioner is an MLP with three hidden
    ReLU layers, the first two shared by s and t. ``s = scale * tanh(raw)`` keeps each
    layer's log-scale bounded (``scale`` is a learned per-dimension factor, initialised to
    1). With ``learned_scale=False``, s = 0: the layer only shifts, is volume preserving
    and has log-determinant 0.
    """

    def __init__(self, mask: torch.Tensor, hidden: int, learned_scale: bool = True):
        super().__init__()
        mask = mask.float().flatten().cpu()  # a fixed pattern: its indices are computed once, here
        self.register_buffer("mask", mask)
        self.register_buffer("kept_index", torch.nonzero(mask).flatten(), persistent=False)
        self.register_buffer("free_index", torch.nonzero(1 - mask).flatten(), persistent=False)
        n_kept, n_free = len(self.kept_index), len(self.free_index)
        if n_kept == 0 or n_free == 0:
            raise ValueError(f"a coupling mask needs kept and free coordinates, got {n_kept} kept and {n_free} free")
        self.learned_scale = learned_scale
        self.trunk = nn.Sequential(nn.Linear(n_kept, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.t_head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_free))
        nn.init.zeros_(self.t_head[-1].weight)
        nn.init.zeros_(self.t_head[-1].bias)
        if learned_scale:
            self.s_head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_free))
            nn.init.zeros_(self.s_head[-1].weight)
            nn.init.zeros_(self.s_head[-1].bias)
            self.s_scale = nn.Parameter(torch.ones(n_free))

    def scale_and_shift(self, x_kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept coordinates (N, n_kept) -> log-scale s and shift t of the free ones, both (N, n_free)."""
        h = self.trunk(x_kept)
        t = self.t_head(h)
        if not self.learned_scale:
            return torch.zeros_like(t), t
        return self.s_scale * torch.tanh(self.s_head(h)), t

    def _assemble(self, kept: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
        out = kept.new_empty(len(kept), len(self.mask))
        out[:, self.kept_index] = kept
        out[:, self.free_index] = free
        return out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, D) -> (y (N, D), log|det dy/dx| (N,))."""
        kept = x[:, self.kept_index]
        s, t = self.scale_and_shift(kept)
        return self._assemble(kept, x[:, self.free_index] * torch.exp(s) + t), s.sum(-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """y (N, D) -> x (N, D); exact, since the kept part of y equals that of x."""
        kept = y[:, self.kept_index]
        s, t = self.scale_and_shift(kept)
        return self._assemble(kept, (y[:, self.free_index] - t) * torch.exp(-s))


class LogitTransform(nn.Module):
    """x in [0, 1] -> logit(alpha + (1 - 2 alpha) x), an invertible map onto the real line.

    ``alpha`` keeps 0 and 1 away from the infinities of the logit. Log-determinant per
    example: D log(1 - 2 alpha) - sum(log p + log(1 - p)) with p = alpha + (1 - 2 alpha) x.
    """

    def __init__(self, alpha: float = 1e-6):
        super().__init__()
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.alpha + (1 - 2 * self.alpha) * x
        y = torch.log(p) - torch.log1p(-p)
        log_det = x.shape[-1] * math.log(1 - 2 * self.alpha) - (torch.log(p) + torch.log1p(-p)).sum(-1)
        return y, log_det

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(y) - self.alpha) / (1 - 2 * self.alpha)


@dataclass(frozen=True)
class FlowArchitecture:
    """The settings that define a RealNVP model (and name its cached run)."""

    dim: int = PIXELS
    n_pairs: int = 4
    hidden: int = 1024
    learned_scale: bool = True
    logit_alpha: float | None = 1e-6
    image_shape: tuple[int, int] | None = IMAGE_SHAPE


class RealNVP(nn.Module):
    """A stack of ``n_pairs`` pairs of affine couplings with complementary masks.

    On images (``image_shape`` given) the masks are checkerboards; otherwise they alternate
    by index. With ``logit_alpha`` set, inputs are expected in [0, 1] and the first layer is
    a :class:`LogitTransform`. ``forward(x) -> (z, log_det)``, ``inverse(z) -> x``,
    ``log_prob(x)`` in nats per example.
    """

    def __init__(
        self,
        n_pairs: int = 4,
        hidden: int = 1024,
        learned_scale: bool = True,
        dim: int = PIXELS,
        logit_alpha: float | None = 1e-6,
        image_shape: tuple[int, int] | None = IMAGE_SHAPE,
    ):
        super().__init__()
        if n_pairs < 1 or hidden < 1:
            raise ValueError(f"n_pairs and hidden must be positive, got {n_pairs} and {hidden}")
        if image_shape is not None and image_shape[0] * image_shape[1] != dim:
            raise ValueError(f"image_shape {image_shape} does not have {dim} pixels")
        self.config = FlowArchitecture(dim, n_pairs, hidden, learned_scale, logit_alpha, image_shape)
        self.preprocess = LogitTransform(logit_alpha) if logit_alpha is not None else None
        masks = []
        for _ in range(n_pairs):
            for parity in (0, 1):
                masks.append(checkerboard_mask(image_shape, parity) if image_shape else alternating_mask(dim, parity))
        self.couplings = nn.ModuleList(AffineCoupling(m, hidden, learned_scale) for m in masks)

    @property
    def dim(self) -> int:
        return self.config.dim

    def layers(self) -> list[nn.Module]:
        """Every invertible step in the data -> noise order."""
        return ([self.preprocess] if self.preprocess is not None else []) + list(self.couplings)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, D) -> (z (N, D), log|det dz/dx| (N,)), summing every layer's log-determinant."""
        log_det = torch.zeros(len(x), device=x.device, dtype=x.dtype)
        for layer in self.layers():
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, D) -> x (N, D): the layers' inverses in reverse order."""
        for layer in reversed(self.layers()):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) in nats per example, exactly log N(f(x); 0, I) + log|det df/dx|. (N, D) -> (N,)."""
        z, log_det = self(x)
        return standard_normal_log_prob(z) + log_det

    def sample(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """z ~ N(0, temperature^2 I), then the inverse flow.

        An image flow (``image_shape`` and ``logit_alpha`` set) returns images (n, 1, H, W),
        clamped to [0, 1] (the logit's inverse can overshoot by alpha); any other flow returns
        its raw points (n, D).
        """
        with torch.no_grad():
            p = next(self.parameters())
            z = torch.randn(n, self.dim, generator=generator, device=p.device, dtype=p.dtype) * temperature
            x = self.inverse(z)
            if self.config.image_shape is None or self.config.logit_alpha is None:
                return x
            return x.clamp(0, 1).reshape(n, 1, *self.config.image_shape)


def bits_per_dim(log_prob_unit: torch.Tensor, dim: int = PIXELS, levels: int = 256) -> torch.Tensor:
    """Bits per dimension of 8-bit data from log-densities of its dequantized version in [0, 1].

    The dequantized integers k + u live on [0, 256)^D; scaling them by 1/256 has
    log-determinant -D ln 256, so log p(k + u) = log p(y) - D ln 256 and
    bpd = (D ln 256 - log p(y)) / (D ln 2). A uniform density on [0, 1]^D (log p = 0) gives 8.
    """
    return (dim * math.log(levels) - log_prob_unit) / (dim * math.log(2))


def dequantized_bits_per_dim(
    model: RealNVP, images: torch.Tensor, generator: torch.Generator | None = None, batch_size: int = 1000
) -> float:
    """Mean bits/dim of uint8 images (N, 28, 28) under ``model``, one dequantization draw each."""
    p = next(model.parameters())
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            y = dequantize(images[start : start + batch_size], generator).to(p.device, p.dtype)
            total += bits_per_dim(model.log_prob(y)).sum().item()
    return total / len(images)


# ---------------------------------------------------------------------------------------
# Training on MNIST
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowSettings(RunSettings):
    """Everything that defines a flow training run (the report's: 4 pairs, Adam 1e-3, clip 10).

    The loss is the mean bits/dim of the batch, so ``max_grad_norm`` acts on a gradient of
    a per-dimension quantity. ``train_subset`` limits the training images (quick mode).
    """

    learned_scale: bool = True
    n_pairs: int = 4
    hidden: int = 512
    logit_alpha: float = 1e-6
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 30
    max_grad_norm: float = 10.0
    seed: int = 0
    train_subset: int | None = None
    eval_subset: int | None = None

    # The CI setting: a narrow flow, 2,000 images, 1 epoch.
    QUICK: ClassVar[dict] = {"epochs": 1, "train_subset": 2000, "eval_subset": 1000, "hidden": 128}
    HELP: ClassVar[dict[str, str]] = {
        **MNIST_TRAINING_HELP,
        "learned_scale": "couplings scale and shift (--no-learned-scale: shift only, volume preserving)",
        "fixed_scale": "the same as --no-learned-scale: scale fixed to 1",
        "n_pairs": "pairs of coupling layers with complementary checkerboards",
        "hidden": "width of the couplings' hidden layers",
        "logit_alpha": "the logit step's margin alpha in logit(alpha + (1 - 2 alpha) x)",
        "max_grad_norm": "gradient norm clip (the loss is in bits/dim)",
        "eval_subset": "evaluate bits/dim on N training and N validation images (default: 10,000)",
    }
    ALIASES: ClassVar[dict[str, tuple[str, object]]] = {"fixed_scale": ("learned_scale", False)}


def chapter_noise(dim: int = PIXELS, seed: int = 0, samples: int = 16) -> torch.Tensor:
    """The flow chapter's fixed noise (samples, dim) float32, drawn from ``seed``: what its explorer
    (``widgets.flow_explorer``) and the book's flow explorer page turn into samples."""
    return torch.randn(samples, dim, generator=torch.Generator().manual_seed(seed))


def build_flow(settings: FlowSettings) -> RealNVP:
    return RealNVP(settings.n_pairs, settings.hidden, settings.learned_scale, logit_alpha=settings.logit_alpha)


def load_or_train_flow(
    settings: FlowSettings, device: torch.device | None = None, **options
) -> tuple[RealNVP, History]:  # pragma: no mutate block (training recipe)
    """Train (or resume, or load) a RealNVP on dequantized MNIST; returns (model, history).

    Each epoch records ``train_bpd`` (mean over the epoch's batches, while training),
    ``train_eval_bpd`` (the first 10,000 training images after the epoch) and
    ``valid_bpd`` (the 10,000 validation images), all with the convention of
    :func:`bits_per_dim`; evaluation uses fixed dequantization noise.
    ``options`` go to :func:`~gengen_lib.training.fit_run`: ``out_dir``, ``quiet``, ``skip_nonfinite``.
    """
    device = device or pick_device()
    torch.manual_seed(settings.seed)
    model = build_flow(settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    train = load_mnist("train").subset(settings.train_subset)
    n_eval = settings.eval_subset or 10_000
    train_eval, valid = train.images[:n_eval], load_mnist("valid").images[:n_eval]
    noise = torch.Generator().manual_seed(settings.seed + 1)

    def step(batch):
        (images,) = batch
        x = dequantize(images, noise).to(device)
        loss = bits_per_dim(model.log_prob(x)).mean()
        optimizer_step(optimizer, loss, settings.max_grad_norm)
        return {"train_bpd": loss.item()}

    def evaluate():
        return {
            "train_eval_bpd": dequantized_bits_per_dim(model, train_eval, torch.Generator().manual_seed(1)),
            "valid_bpd": dequantized_bits_per_dim(model, valid, torch.Generator().manual_seed(2)),
        }

    def snapshot():
        return model.sample(64, generator=torch.Generator(device=device).manual_seed(3)).cpu()

    history = fit_run(
        "flow", settings, model, {"adam": optimizer}, step, (train.images,), evaluate=evaluate, snapshot=snapshot,
        generators={"dequantization": noise}, **options,
    )
    model.eval()
    return model, history


# ---------------------------------------------------------------------------------------
# The family's record (gengen_lib.families)
# ---------------------------------------------------------------------------------------


def _measure(model: RealNVP, settings: FlowSettings, options: MeasureOptions) -> dict:
    """Bits/dim on 10,000 training and all validation images, the parameter count, sample quality."""
    train, valid = load_mnist("train").images[:10_000], load_mnist("valid").images
    return {
        "train_bpd": dequantized_bits_per_dim(model, train, torch.Generator().manual_seed(1)),
        "valid_bpd": dequantized_bits_per_dim(model, valid, torch.Generator().manual_seed(2)),
        "parameters": count_parameters(model),
        **quality.shipped_sample_quality(model, options),
    }


FAMILY = Family(
    name="flow",
    summary="RealNVP normalizing flow on dequantized MNIST (chapter 3)",
    settings=FlowSettings,
    build=build_flow,
    train=load_or_train_flow,
    measure=_measure,
    shipped={"flow-learned-scale": FlowSettings(), "flow-fixed-scale": FlowSettings(learned_scale=False)},
    exporter=explorer_exporter("flow", "export_book_flows"),
    exercises="exercises_flows",
    label="RealNVP",
    compared=("flow-learned-scale",),
    sample_cost="1 inverse pass",
)
