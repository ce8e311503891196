"""Small 2-d data sets and models, where densities can be drawn."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from .family import Family, MeasureOptions, explorer_exporter
from .flow_matching import FlowMatchingModel, MLPVelocity, conditional_flow_matching_loss
from .flows import RealNVP
from .runs import RunSettings
from .runtime import torch_threads
from .training import History, fit, fit_run, optimizer_step


def two_moons(n: int, noise: float = 0.08, generator: torch.Generator | None = None) -> torch.Tensor:
    """n points (n, 2) on two interleaved half circles with Gaussian noise, centred near 0.

    The points come in random order, so any prefix (the first 1,000 for a plot) holds both
    moons in equal measure.
    """
    half = n // 2
    angle = torch.rand(n, generator=generator) * math.pi
    upper = torch.stack([torch.cos(angle[:half]), torch.sin(angle[:half])], -1)
    lower = torch.stack([1 - torch.cos(angle[half:]), 0.5 - torch.sin(angle[half:])], -1)
    points = torch.cat([upper, lower]) + noise * torch.randn(n, 2, generator=generator)
    points = points[torch.randperm(n, generator=generator)]
    return (points - torch.tensor([0.5, 0.25])) * 1.5


@dataclass(frozen=True)
class MoonsSettings(RunSettings):
    """What the two-moons runs share: Adam at ``lr`` for ``epochs`` passes over their data
    (``points`` points with noise ``noise``, drawn from ``seed``; fresh ones from ``seed + 1``), in
    mini-batches of ``batch_size`` points with the gradient clipped to norm ``max_grad_norm``.

    A base: each model's settings give ``lr`` and ``epochs`` their defaults and add its network.
    """

    lr: float
    epochs: int
    points: int = 8000
    noise: float = 0.08
    batch_size: int = 256
    max_grad_norm: float = 10.0
    seed: int = 0

    # The CI setting: 2,000 points, 3 epochs (a different run, so quick mode never loads a shipped model).
    QUICK: ClassVar[dict] = {"points": 2000, "epochs": 3}
    HELP: ClassVar[dict[str, str]] = {
        "points": "two-moons training points",
        "noise": "standard deviation of the Gaussian noise around the moons",
        "lr": "Adam learning rate",
        "batch_size": "points per mini-batch",
        "epochs": "passes over the points",
        "max_grad_norm": "gradient norm clip",
        "seed": "random seed, 0 to 2**63 - 1",
    }

    def training_points(self) -> torch.Tensor:
        """The training points, (points, 2), drawn from ``seed``."""
        return two_moons(self.points, self.noise, generator=torch.Generator().manual_seed(self.seed))

    def fresh_points(self, n: int) -> torch.Tensor:
        """``n`` points, (n, 2), that training never saw: the same moons drawn from ``seed + 1``."""
        return two_moons(n, self.noise, generator=torch.Generator().manual_seed(self.seed + 1))


@dataclass(frozen=True)
class ToyFlowSettings(MoonsSettings):
    """The flow chapter's two-moons flow: a RealNVP of ``n_pairs`` pairs of couplings ``hidden`` units
    wide, trained by Adam at ``lr`` for ``epochs`` passes over the points (:class:`MoonsSettings`).

    The book's flow explorer shows the model trained with the defaults (shipped as
    ``weights/flow-moons``).
    """

    lr: float = 3e-3
    epochs: int = 30
    n_pairs: int = 4
    hidden: int = 64

    HELP: ClassVar[dict[str, str]] = {
        **MoonsSettings.HELP,
        "n_pairs": "pairs of coupling layers",
        "hidden": "hidden units of each coupling's networks",
    }


def build_toy_flow(settings: ToyFlowSettings) -> RealNVP:
    """An untrained RealNVP on 2-d points (no logit step)."""
    return RealNVP(n_pairs=settings.n_pairs, hidden=settings.hidden, dim=2, logit_alpha=None, image_shape=None)


def load_or_train_toy_flow(
    settings: ToyFlowSettings, device: torch.device | str | None = None, **options
) -> tuple[RealNVP, History]:  # pragma: no mutate block (training recipe)
    """Train (or resume, or load) the two-moons flow by maximum likelihood; returns (model, history).

    Each epoch records ``nll``, the mean negative log-likelihood of its batches in nats per point.
    Runs on the CPU unless ``device`` says otherwise (the model is too small to gain from a GPU).
    ``options`` go to :func:`~gengen_lib.training.fit_run`: ``out_dir``, ``quiet``, ``skip_nonfinite``.
    """
    torch.manual_seed(settings.seed)
    model = build_toy_flow(settings).to(device or "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)

    def step(batch):
        (x,) = batch
        nll = -model.log_prob(x.to(device or "cpu")).mean()
        optimizer_step(optimizer, nll, max_grad_norm=settings.max_grad_norm)
        return {"nll": nll.item()}

    options.setdefault("quiet", True)
    with torch_threads(1):  # the same weights with any number of threads, and no spinning on a busy machine
        history = fit_run("toy-flow", settings, model, {"adam": optimizer}, step, (settings.training_points(),),
                          **options)  # fmt: skip
    return model.eval(), history


@torch.no_grad()
def held_out_nll(model: RealNVP, settings: ToyFlowSettings) -> float:
    """Mean negative log-likelihood, nats per point, of ``settings.points`` fresh points."""
    return -model.log_prob(settings.fresh_points(settings.points)).mean().item()


def _toy_flow_matching_recipe(model: FlowMatchingModel, lr: float, max_grad_norm: float, ema_decay: float, seed: int):
    """The optimizer, the training step and its noise stream of a 2-d flow-matching model (one recipe
    for :func:`train_toy_flow_matching` and :func:`load_or_train_toy_flow_matching`)."""
    optimizer = torch.optim.Adam(model.net.parameters(), lr=lr)
    noise = torch.Generator().manual_seed(seed + 1)

    def step(batch):
        (x,) = batch
        loss = conditional_flow_matching_loss(model.net, x, noise)
        optimizer_step(optimizer, loss, max_grad_norm=max_grad_norm)
        model.update_average(ema_decay)
        return {"loss": loss.item()}

    return optimizer, step, noise


def train_toy_flow_matching(
    data: torch.Tensor, hidden: int = 128, epochs: int = 200, seed: int = 0, ema_decay: float = 0.99
) -> tuple[FlowMatchingModel, History]:
    """A flow-matching model of 2-d points: an MLP velocity trained on the conditional loss (no ODE solve),
    with the learning rate, clipping and batch size of :class:`ToyFlowMatchingSettings`."""
    recipe = ToyFlowMatchingSettings(epochs=epochs, hidden=hidden, ema_decay=ema_decay, seed=seed)
    torch.manual_seed(seed)
    model = FlowMatchingModel(MLPVelocity(data.shape[1], hidden), data.shape[1], image_shape=None, logit_alpha=None)
    optimizer, step, noise = _toy_flow_matching_recipe(model, recipe.lr, recipe.max_grad_norm, ema_decay, seed)
    with torch_threads(1):  # a small MLP: one thread is as fast, and never waits for a second one on a busy machine
        history = fit(model, {"adam": optimizer}, step, (data,), epochs=epochs, batch_size=recipe.batch_size,
                      seed=seed, quiet=True, generators={"noise": noise})  # fmt: skip
    model.eval()
    return model, history


@dataclass(frozen=True)
class ToyFlowMatchingSettings(MoonsSettings):
    """The two-moons flow-matching model of the book's flow-matching explorer: an MLP velocity ``hidden``
    units wide, the recipe of :func:`train_toy_flow_matching` (Adam at ``lr`` for ``epochs`` passes, a
    weight average of decay ``ema_decay``) on the first ``train_subset`` points (:class:`MoonsSettings`).

    The defaults are the flow-matching chapter's two-moons model (8,000 points, 150 epochs), shipped
    as ``weights/flow-matching-moons``.
    """

    lr: float = 2e-3
    epochs: int = 150
    hidden: int = 128
    ema_decay: float = 0.99
    train_subset: int | None = None

    HELP: ClassVar[dict[str, str]] = {
        **MoonsSettings.HELP,
        "hidden": "hidden units of each of the velocity MLP's three hidden layers",
        "ema_decay": "decay of the weights' moving average that sampling and densities use",
        "train_subset": "train on the first N of the points only (default: all)",
    }

    def training_points(self) -> torch.Tensor:
        """The training points, (points or train_subset, 2), drawn from ``seed``."""
        return super().training_points()[: self.train_subset]


def build_toy_flow_matching(settings: ToyFlowMatchingSettings) -> FlowMatchingModel:
    """An untrained flow-matching model of 2-d points (an MLP velocity, no logit step)."""
    return FlowMatchingModel(MLPVelocity(2, settings.hidden), 2, image_shape=None, logit_alpha=None)


def load_or_train_toy_flow_matching(
    settings: ToyFlowMatchingSettings, device: torch.device | str | None = None, **options
) -> tuple[FlowMatchingModel, History]:  # pragma: no mutate block (training recipe)
    """Train (or resume, or load) the two-moons flow-matching model; returns (model, history).

    The same model and recipe as :func:`train_toy_flow_matching` on the settings' training points, through the
    runs cache; each epoch records ``loss``, the conditional flow-matching loss of its batches. On the
    CPU unless ``device`` says otherwise. ``options`` go to :func:`~gengen_lib.training.fit_run`.
    """
    torch.manual_seed(settings.seed)
    model = build_toy_flow_matching(settings).to(device or "cpu")
    optimizer, step, noise = _toy_flow_matching_recipe(
        model, settings.lr, settings.max_grad_norm, settings.ema_decay, settings.seed
    )
    options.setdefault("quiet", True)
    with torch_threads(1):  # the same weights with any number of threads, and no spinning on a busy machine
        history = fit_run("toy-flow-matching", settings, model, {"adam": optimizer}, step,
                          (settings.training_points().to(device or "cpu"),), generators={"noise": noise},
                          **options)  # fmt: skip
    return model.eval(), history


FM_NLL_SOLVER = {"method": "rk4", "steps": 20}


def fm_held_out_nll(model: FlowMatchingModel, settings: ToyFlowMatchingSettings, n: int = 1000) -> float:
    """Mean negative log-likelihood, nats per point, of ``n`` fresh points: the exact divergence
    integrated by :data:`FM_NLL_SOLVER`."""
    log_p, _ = model.log_prob(settings.fresh_points(n), exact=True, **FM_NLL_SOLVER)
    return -log_p.mean().item()


# ---------------------------------------------------------------------------------------
# The family's record (gengen_lib.families)
# ---------------------------------------------------------------------------------------


def _measure_toy_flow_matching(model, settings: ToyFlowMatchingSettings, options: MeasureOptions) -> dict:
    """The held-out negative log-likelihood, nats per point, and the solver it was integrated with."""
    return {"valid_nll": fm_held_out_nll(model, settings), "solver": dict(FM_NLL_SOLVER)}


def _measure_toy_flow(model: RealNVP, settings: ToyFlowSettings, options: MeasureOptions) -> dict:
    """The held-out negative log-likelihood, nats per point."""
    return {"valid_nll": held_out_nll(model, settings)}


FAMILY = Family(
    name="toy-flow",
    summary="two-moons RealNVP of the flows chapter (its explorer weights come with the flow family's)",
    settings=ToyFlowSettings,
    build=build_toy_flow,
    train=load_or_train_toy_flow,
    measure=_measure_toy_flow,
    shipped={"flow-moons": ToyFlowSettings()},
    sample_shape=(2,),
)


FLOW_MATCHING_FAMILY = Family(
    name="toy-flow-matching",
    summary="two-moons flow matching of the flow-matching chapter (the book's flow-matching explorer shows it)",
    settings=ToyFlowMatchingSettings,
    build=build_toy_flow_matching,
    train=load_or_train_toy_flow_matching,
    measure=_measure_toy_flow_matching,
    shipped={"flow-matching-moons": ToyFlowMatchingSettings()},
    exporter=explorer_exporter("flow_matching", "export_book_flow_matching"),
    sample_shape=(2,),
)
