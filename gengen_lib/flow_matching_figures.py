"""The flow-matching chapter's figures, one function each (the other chapters' are in :mod:`figures`).

Each figure fits the book's column (:data:`plots.COLUMN_INCHES`) and describes itself
(:func:`alt_text.describe`): what is plotted, and the finding in numbers.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib import ticker

from .alt_text import describe
from .flow_matching import FlowMatchingModel, ode_log_prob, trajectory
from .plots import COLUMN_INCHES


def _panels(n: int):
    width = COLUMN_INCHES / n
    return plt.subplots(1, n, figsize=(COLUMN_INCHES, width + 0.35), sharey=True, layout="constrained")


def particles_along_t(model: FlowMatchingModel, n: int, times: list[float], seed: int = 1, limit: float = 3.0):
    """Noise particles x0 ~ N(0, I) carried by the 2-d flow, drawn at each of ``times``."""
    x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    path = trajectory(model.velocity, x0, torch.tensor(times), method="midpoint", steps=50)
    fig, axes = _panels(len(times))
    colour = x0[:, 0]  # each particle keeps the colour of where it started
    for ax, t, points in zip(axes, times, path, strict=True):
        ax.scatter(points[:, 0], points[:, 1], s=1, c=colour, cmap="coolwarm")
        ax.set(aspect="equal", xlim=(-limit, limit), ylim=(-limit, limit), xticks=[], yticks=[])
        ax.set_title(f"t = {t:g}", fontsize=10)
    spread = [points.std(0).mean().item() for points in path]
    return describe(fig, (
        f"{len(times)} scatter plots of the same {n:,} particles at t = {', '.join(f'{t:g}' for t in times)}, "
        "coloured by their starting horizontal position, on the square from -3 to 3. At t = 0 they form a "
        "round standard normal cloud; by t = 1 they lie on two interleaved half-circles. Mean standard "
        f"deviation per coordinate: {spread[0]:.2f} at t = 0, {spread[-1]:.2f} at t = 1."
    ))  # fmt: skip


def density_along_t(model: FlowMatchingModel, times: list[float], limit: float = 3.0, n: int = 90):
    """The density p_t on a grid at each of ``times``, from the ODE with the exact divergence.

    A fixed-step rk4 (16 steps over [0, 1]) draws it: on the two-moons model it is within 4% of the
    peak of dopri5 at a tolerance of 1e-4, at a fifth of the cost.
    """
    grid = torch.linspace(-limit, limit, n)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    points = torch.stack([gx.flatten(), gy.flatten()], -1)
    fig, axes = _panels(len(times))
    peaks = []
    for ax, t in zip(axes, times, strict=True):
        log_p, _ = ode_log_prob(model.velocity, points, t=t, exact=True, method="rk4", steps=16)
        density = log_p.exp().reshape(n, n).detach()
        peaks.append(density.max().item())
        ax.pcolormesh(grid, grid, density, cmap="magma", shading="auto")
        ax.set(aspect="equal", xticks=[], yticks=[])
        ax.set_title(f"t = {t:g}", fontsize=10)
    return describe(fig, (
        f"{len(times)} heat maps of the density p_t of the learned flow at t = "
        f"{', '.join(f'{t:g}' for t in times)}, bright where the density is high, on the square from -3 to 3. "
        f"A single round bump at t = 0 (peak {peaks[0]:.2f}) splits and bends into two thin moons at t = 1 "
        f"(peak {peaks[-1]:.2f})."
    ))  # fmt: skip


def fid_against_evaluations(curves: dict[str, list[tuple[int, float]]], reference: dict[str, float]):
    """MNIST-FID of samples against the number of velocity evaluations, one line per solver.

    ``curves``: solver -> [(evaluations, FID)]; ``reference``: label -> FID drawn as a dashed line.
    """
    fig, ax = plt.subplots(figsize=(COLUMN_INCHES, 3.6), layout="constrained")
    for method, points in curves.items():
        nfe, fid = zip(*sorted(points), strict=True)
        ax.plot(nfe, fid, "o-", label=method)
    for label, value in reference.items():
        ax.axhline(value, ls="--", lw=1, color="gray", label=f"{label} ({value:.1f})")
    ax.set(xscale="log", yscale="log", xlabel="velocity evaluations per sample", ylabel="MNIST-FID")
    evaluations = sorted({n for points in curves.values() for n, _ in points})
    ax.set_xticks(evaluations, [str(n) for n in evaluations])  # plain numbers, not 4 x 10^0
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda y, _: f"{y:g}" if str(round(y))[0] in "25" else ""))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ends = "; ".join(f"{method}: FID {dict(points)[max(dict(points))]:.1f} at {max(dict(points))} evaluations, "
                     f"{dict(points)[min(dict(points))]:.1f} at {min(dict(points))}"
                     for method, points in curves.items())  # fmt: skip
    refs = "; ".join(f"{label} {value:.1f}" for label, value in reference.items())
    return describe(fig, (
        "MNIST-FID (log scale) against velocity evaluations per sample (log scale), one line per ODE solver, "
        f"with a dashed reference line ({refs}). {ends}."
    ))
