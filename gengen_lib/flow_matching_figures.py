"""The flow-matching chapter's figures, one function each (the other chapters' are in :mod:`figures`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .flow_matching import FlowMatchingModel, ode_log_prob, trajectory


def particles_along_t(model: FlowMatchingModel, n: int, times: list[float], seed: int = 1, limit: float = 3.0):
    """Noise particles x0 ~ N(0, I) carried by the 2-d flow, drawn at each of ``times``."""
    x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    path = trajectory(model.velocity, x0, torch.tensor(times), method="midpoint", steps=50)
    fig, axes = plt.subplots(1, len(times), figsize=(2.6 * len(times), 2.9), sharey=True, layout="constrained")
    colour = x0[:, 0]  # each particle keeps the colour of where it started
    for ax, t, points in zip(axes, times, path, strict=True):
        ax.scatter(points[:, 0], points[:, 1], s=2, c=colour, cmap="coolwarm")
        ax.set(title=f"t = {t:g}", aspect="equal", xlim=(-limit, limit), ylim=(-limit, limit), xticks=[], yticks=[])
    return fig


def density_along_t(model: FlowMatchingModel, times: list[float], limit: float = 3.0, n: int = 90):
    """The density p_t on a grid at each of ``times``, from the ODE with the exact divergence."""
    grid = torch.linspace(-limit, limit, n)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    points = torch.stack([gx.flatten(), gy.flatten()], -1)
    fig, axes = plt.subplots(1, len(times), figsize=(2.6 * len(times), 2.9), sharey=True, layout="constrained")
    for ax, t in zip(axes, times, strict=True):
        log_p, _ = ode_log_prob(model.velocity, points, t=t, exact=True, rtol=1e-4, atol=1e-4)
        ax.pcolormesh(grid, grid, log_p.exp().reshape(n, n).detach(), cmap="magma", shading="auto")
        ax.set(title=f"$p_t$, t = {t:g}", aspect="equal", xticks=[], yticks=[])
    return fig


def fid_against_evaluations(curves: dict[str, list[tuple[int, float]]], reference: dict[str, float]):
    """MNIST-FID of samples against the number of velocity evaluations, one line per solver.

    ``curves``: solver -> [(evaluations, FID)]; ``reference``: label -> FID drawn as a dashed line.
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for method, points in curves.items():
        nfe, fid = zip(*sorted(points), strict=True)
        ax.plot(nfe, fid, "o-", label=method)
    for label, value in reference.items():
        ax.axhline(value, ls="--", lw=1, color="gray")
        ax.annotate(label, (ax.get_xlim()[0], value), textcoords="offset points", xytext=(4, 3), color="gray")
    ax.set(xscale="log", yscale="log", xlabel="velocity evaluations per sample", ylabel="MNIST-FID")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig
