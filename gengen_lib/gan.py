"""The generative adversarial network of the course: models, losses, interpolation, training.

Convention for the losses (the one the reference lines log 4 and log 2 belong to): the
discriminator minimises L_D = BCE(D(x), real target) + BCE(D(G(z)), 0), which equals
log 4 when D outputs 1/2 everywhere; the generator minimises the non-saturating
L_G = -log D(G(z)) (log 2 at D = 1/2) or, as an option, the minimax form log(1 - D(G(z))).
D returns *logits*; probabilities are their sigmoid.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from . import quality
from .data import IMAGE_SHAPE, PIXELS, load_mnist, to_signed
from .family import Family, MeasureOptions, explorer_exporter
from .latent import lerp, slerp  # noqa: F401  (re-exported: gan.slerp is the GAN chapter's name)
from .runs import MNIST_TRAINING_HELP, RunSettings
from .runtime import pick_device
from .training import History, fit_run, optimizer_step

Loss = Literal["non_saturating", "minimax"]
RealTarget = Literal["one", "smooth", "noisy"]
LOSSES: tuple[str, ...] = get_args(Loss)
REAL_TARGETS: tuple[str, ...] = get_args(RealTarget)


class Generator(nn.Module):
    """z (N, z_dim) -> images (N, 784) in [-1, 1]: five linear layers, LeakyReLU(0.2),
    batch norm after every hidden layer but the first, tanh at the output."""

    def __init__(self, z_dim: int = 100, widths: tuple[int, ...] = (128, 256, 512, 1024)):
        super().__init__()
        self.z_dim = z_dim
        layers: list[nn.Module] = []
        previous = z_dim
        for i, width in enumerate(widths):
            layers.append(nn.Linear(previous, width))
            if i > 0:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.LeakyReLU(0.2))
            previous = width
        layers += [nn.Linear(previous, PIXELS), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """images (N, 784) -> logits (N,) of "real": three linear layers, LeakyReLU(0.2), optional dropout."""

    def __init__(self, dropout: float = 0.3, widths: tuple[int, int] = (512, 256)):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(PIXELS, widths[0]),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(widths[0], widths[1]),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(widths[1], 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class GAN(nn.Module):
    """The generator and discriminator in one module (one state dict, one checkpoint)."""

    def __init__(self, z_dim: int = 100, dropout: float = 0.3):
        super().__init__()
        self.generator = Generator(z_dim)
        self.discriminator = Discriminator(dropout)

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I) through the generator in eval mode. Returns images (n, 1, 28, 28) in [0, 1]."""
        with torch.no_grad():
            p = next(self.parameters())
            was_training = self.generator.training
            self.generator.eval()
            z = torch.randn(n, self.z_dim, generator=generator, device=p.device, dtype=p.dtype)
            x = self.generator(z)
            self.generator.train(was_training)
            return ((x + 1) / 2).reshape(n, 1, *IMAGE_SHAPE)


def real_targets(kind: str, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Targets for real images: ``one`` (1.0), ``smooth`` (one-sided label smoothing, 0.9) or
    ``noisy`` (noisy labels drawn from U[0.7, 1.2], the scheme the reference report uses)."""
    if kind == "one":
        return torch.ones(n, device=device)
    if kind == "smooth":
        return torch.full((n,), 0.9, device=device)
    if kind == "noisy":
        return 0.7 + 0.5 * torch.rand(n, generator=generator, device=device)
    raise ValueError(f"unknown real-target scheme {kind!r}; choose one of {', '.join(REAL_TARGETS)}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE(D(x), targets) + BCE(D(G(z)), 0), batch means, in nats; log 4 when D = 1/2 and targets = 1."""
    real = F.binary_cross_entropy_with_logits(real_logits, targets)
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """``non_saturating``: -log D(G(z)); ``minimax``: log(1 - D(G(z))). Batch means, nats."""
    if kind == "non_saturating":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "minimax":
        return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    raise ValueError(f"unknown generator loss {kind!r}; choose one of {', '.join(LOSSES)}")


# ---------------------------------------------------------------------------------------
# Training on MNIST scaled to [-1, 1]
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GANSettings(RunSettings):
    """A GAN run: the report's models and optimiser (Adam 2e-4, batch 64, one D step then one G step).

    ``betas`` (0.5, 0.999) is our choice (the DCGAN setting; the report does not state it).
    """

    z_dim: int = 100
    dropout: float = 0.3
    real_target: RealTarget = "noisy"
    loss: Loss = "non_saturating"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    epochs: int = 20
    seed: int = 0
    train_subset: int | None = None

    # The CI setting: 3,000 images, 1 epoch.
    QUICK: ClassVar[dict] = {"epochs": 1, "train_subset": 3000}
    HELP: ClassVar[dict[str, str]] = {
        **MNIST_TRAINING_HELP,
        "z_dim": "latent dimension",
        "dropout": "dropout rate of the discriminator's hidden layers, in [0, 1)",
        "real_target": "discriminator targets for real images: 1, 0.9, or noisy in [0.7, 1.2]",
        "loss": "generator loss",
        "lr": "Adam learning rate of both networks",
        "betas": "Adam's two decay rates",
    }

    def __post_init__(self):
        if self.real_target not in REAL_TARGETS:
            raise ValueError(
                f"unknown real-target scheme {self.real_target!r}; choose one of {', '.join(REAL_TARGETS)}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"unknown generator loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def load_or_train_gan(
    settings: GANSettings, device: torch.device | None = None, evaluate=None, **options
) -> tuple[GAN, History]:  # pragma: no mutate block (training recipe)
    """Train (or resume, or load) a GAN; returns (model, history).

    Every step logs ``d_loss``, ``g_loss``, ``d_real`` and ``d_fake`` (mean D probabilities).
    ``evaluate(model) -> dict`` (optional) adds end-of-epoch metrics such as a sample-quality score.
    ``options`` go to :func:`~gengen_lib.training.fit_run`: ``out_dir``, ``quiet``, ``skip_nonfinite``.
    """
    device = device or pick_device()
    torch.manual_seed(settings.seed)
    model = build_gan(settings).to(device)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=settings.lr, betas=settings.betas)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=settings.lr, betas=settings.betas)
    train = to_signed(load_mnist("train").subset(settings.train_subset).images).to(device)
    G, D = model.generator, model.discriminator

    def step(batch):
        (real,) = batch
        n = len(real)
        fake = G(torch.randn(n, settings.z_dim, device=device))
        real_logits, fake_logits = D(real), D(fake.detach())
        d_loss = discriminator_loss(real_logits, fake_logits, real_targets(settings.real_target, n, device))
        optimizer_step(opt_d, d_loss)
        g_loss = generator_loss(D(fake), settings.loss)
        optimizer_step(opt_g, g_loss)
        return {
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(),
        }

    def snapshot():
        return model.sample(64, generator=torch.Generator(device=device).manual_seed(3)).cpu()

    history = fit_run(
        "gan", settings, model, {"generator": opt_g, "discriminator": opt_d}, step, (train,),
        evaluate=(lambda: evaluate(model)) if evaluate else None, snapshot=snapshot, drop_last=True, **options,
    )
    model.eval()
    return model, history


# ---------------------------------------------------------------------------------------
# The family's record (gengen_lib.families)
# ---------------------------------------------------------------------------------------


def build_gan(settings: GANSettings) -> GAN:
    return GAN(settings.z_dim, settings.dropout)


def samples_scored_per_epoch(quick: bool) -> int:
    """How many samples a GAN run scores after each epoch: 2,000, or 500 in quick mode."""
    return 500 if quick else 2000


def sample_quality_during_training(
    settings: GANSettings, quick: bool, device: torch.device | None, out_dir: str | Path | None,
    load_or_train: Callable[..., tuple[nn.Module, object]],
) -> dict:  # pragma: no mutate block (training recipe)
    """``evaluate``: MNIST-FID and class scores of :func:`samples_scored_per_epoch` samples after every epoch.

    They are measured with the classifier of the same mode that ``load_or_train`` (see
    :class:`~gengen_lib.family.Family`) gives: the shipped one (the yardstick of every score in the
    book) when there is one, otherwise one trained through the runs cache, in ``out_dir/classifier``
    when ``out_dir`` is given (so runs with their own folders share nothing). The classifier is loaded
    (or trained) now, before the GAN's training draws its first random number; its statistics of the
    test set are computed when the first epoch ends, so a GAN that is loaded, not trained, costs none.
    """
    classifier_dir = Path(out_dir) / "classifier" if out_dir is not None else None
    classifier, _ = load_or_train("classifier", quality.ClassifierSettings.for_mode(quick), device=device,
                                  out_dir=classifier_dir)  # fmt: skip
    meter = functools.cache(lambda: quality.SampleQualityMeter(classifier))
    n, seed = samples_scored_per_epoch(quick), settings.seed
    return {"evaluate": lambda model: quality.sample_quality_callback(meter(), n, seed)(model)}


def _measure(model: GAN, settings: GANSettings, options: MeasureOptions) -> dict:
    """Sample quality of ``options.samples`` draws."""
    return quality.shipped_sample_quality(model, options)


FAMILY = Family(
    name="gan",
    summary="generative adversarial network on MNIST in [-1, 1] (chapter 2)",
    settings=GANSettings,
    build=build_gan,
    train=load_or_train_gan,
    measure=_measure,
    shipped={"gan-plain": GANSettings(dropout=0.0, real_target="one"), "gan-regularized": GANSettings()},
    training_extras=sample_quality_during_training,
    exporter=explorer_exporter("gan", "export_book_generator"),
    exercises="exercises_gan",
    label="GAN",
    compared=("gan-plain", "gan-regularized"),
    sample_cost="1 generator pass",
)
