"""Small 2-d data sets and models, where densities can be drawn."""

from __future__ import annotations

import math

import torch

from .flows import RealNVP
from .runtime import torch_threads
from .training import History, fit, optimizer_step


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


def train_toy_flow(
    data: torch.Tensor, n_pairs: int = 4, hidden: int = 64, epochs: int = 30, seed: int = 0
) -> tuple[RealNVP, History]:
    """A small RealNVP on 2-d points (no logit step), trained by maximum likelihood on one CPU thread
    (:func:`~gengen_lib.runtime.torch_threads`: the weights are the same with any number of threads)."""
    with torch_threads(1):
        return _train_toy_flow(data, n_pairs, hidden, epochs, seed)


def _train_toy_flow(data: torch.Tensor, n_pairs: int, hidden: int, epochs: int, seed: int) -> tuple[RealNVP, History]:
    torch.manual_seed(seed)
    model = RealNVP(n_pairs=n_pairs, hidden=hidden, dim=2, logit_alpha=None, image_shape=None)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def step(batch):
        (x,) = batch
        nll = -model.log_prob(x).mean()
        optimizer_step(optimizer, nll, max_grad_norm=10.0)
        return {"nll": nll.item()}

    history = fit(model, {"adam": optimizer}, step, (data,), epochs=epochs, batch_size=256, seed=seed, quiet=True)
    model.eval()
    return model, history
