"""The chapters' figures, one function each, so that a lecture cell is one call.

Every function draws one figure from values the notebook computed (or from a model) and
returns the matplotlib figure. Reusable building blocks (image grids, curves) are in
:mod:`gengen_lib.plots`.
"""

from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import torch

from . import figure_fingerprint, plots
from .latent import code_from_seed, lerp, slerp

# ---------------------------------------------------------------------------------------
# VAE
# ---------------------------------------------------------------------------------------


def naive_vs_importance(sizes: list[int], naive: dict[int, torch.Tensor], is_ref: torch.Tensor, k: int):
    """Prior Monte Carlo estimates of log p(x) (nats) against the importance-sampling value, per digit.

    ``naive[L]``: (repeats, digits) estimates with L prior samples; ``is_ref``: (digits,).
    """
    repeats = len(next(iter(naive.values())))
    fig, axes = plt.subplots(1, len(is_ref), figsize=(13, 3.2), sharex=True, layout="constrained")
    for j, ax in enumerate(axes):
        runs = [naive[L][:, j] for L in sizes]
        ax.fill_between(sizes, [r.min() for r in runs], [r.max() for r in runs], alpha=0.25,
                        label=f"prior MC: range of {repeats} runs")  # fmt: skip
        ax.plot(sizes, [r.mean() for r in runs], "o-", label="prior MC: mean")
        ax.axhline(is_ref[j].item(), color="k", ls="--", label=f"importance sampling, k={k}")
        ax.set(xscale="log", title=f"test digit {j}", xlabel="samples L")
    axes[0].set_ylabel("estimate of log p(x) [nats]")
    axes[0].legend(fontsize=7, loc="lower right")
    return fig


def kl_heatmap(kl_of, mu_range=(-4.0, 4.0), sigma_range=(0.02, 20.0), n: int = 161):
    """KL(N(mu, sigma^2) || N(0, 1)) over a grid of (mu, sigma), with ``kl_of(mu, logvar)`` per point.

    Returns (figure, grid minimum as (kl, mu, sigma)).
    """
    mus = torch.linspace(*mu_range, n)
    log_sigmas = torch.linspace(math.log(sigma_range[0]), math.log(sigma_range[1]), n)
    M, LS = torch.meshgrid(mus, log_sigmas, indexing="xy")  # row i: sigma = exp(log_sigmas[i])
    kl = kl_of(M[..., None], 2 * LS[..., None])
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    im = ax.pcolormesh(mus, log_sigmas.exp(), kl.log10(), cmap="viridis", shading="auto")
    ax.contour(mus, log_sigmas.exp(), kl, levels=[0.5, 2, 8, 32], colors="w", linewidths=0.7)
    ax.plot([0], [1], "r*", ms=12, label="q = p: KL = 0")
    ax.set(yscale="log", xlabel=r"$\mu_q$", ylabel=r"$\sigma_q$")
    ax.set_title("KL grows with |mu|, and with sigma -> 0 or sigma -> infinity")
    ax.legend(loc="upper right")
    fig.colorbar(im, label=r"$\log_{10}$ KL(q || p)")
    i = kl.argmin()
    return fig, (kl.min().item(), M.flatten()[i].item(), LS.exp().flatten()[i].item())


def latent_manifold(decode_means, grid_z: torch.Tensor, codes: torch.Tensor, labels: torch.Tensor, title: str = ""):
    """The 2-d VAE: decoded means on a latent grid beside the posterior means of labelled images."""
    with torch.no_grad():
        manifold = decode_means(grid_z)
    side = int(round(len(grid_z) ** 0.5))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 6.2), gridspec_kw={"width_ratios": [1, 1.15]},
                                   layout="constrained")  # fmt: skip
    plots.show_grid(manifold, nrow=side, ax=ax1, title="decoded means on the inverse-CDF grid of [0.05, 0.95]^2")
    sc = ax2.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=3, alpha=0.6)
    q = grid_z[:, 0].unique()
    ax2.add_patch(plt.Rectangle((q.min(), q.min()), q.max() - q.min(), q.max() - q.min(), fill=False, ls="--"))
    ax2.set(xlabel="$z_1$", ylabel="$z_2$", title="posterior means of test images (dashed: the grid on the left)")
    fig.colorbar(sc, ax=ax2, ticks=range(10), label="digit")
    fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------------------
# GAN
# ---------------------------------------------------------------------------------------


def generator_losses():
    """The minimax and non-saturating generator losses and their gradients against D(G(z))."""
    d = torch.linspace(0.001, 0.999, 500)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    ax1.plot(d, torch.log(1 - d), label=r"minimax: $\log(1 - D)$ (minimised)")
    ax1.plot(d, -torch.log(d), label=r"non-saturating: $-\log D$ (minimised)")
    ax1.set(xlabel="D(G(z))", ylabel="generator loss", title="the two generator losses")
    ax2.plot(d, d, label="minimax: |gradient| = D")
    ax2.plot(d, 1 - d, label="non-saturating: |gradient| = 1 - D")
    ax2.axvspan(0, 0.1, color="tab:red", alpha=0.1)
    ax2.annotate("early training:\nD rejects fakes", (0.02, 0.55), fontsize=8)
    ax2.set(xlabel="D(G(z))", ylabel="|d loss / d logit|", title="their gradients: where each one vanishes")
    for ax in (ax1, ax2):
        ax.legend()
    return fig


def gan_losses(histories: dict, titles: dict, window: int = 200, title: str = ""):
    """Running means of the discriminator and generator losses per setting, with log 4 and log 2."""
    fig, axes = plt.subplots(1, len(histories), figsize=(12, 3.8), sharey=True, layout="constrained")
    for ax, (key, history) in zip(axes, histories.items(), strict=True):
        for name, label in [("d_loss", "$L_D$"), ("g_loss", "$L_G$")]:
            ax.plot(*plots.smoothed(history.steps[name], window=window), label=label)
        for value, text, color in [(math.log(4), "log 4", "tab:blue"), (math.log(2), "log 2", "tab:orange")]:
            ax.axhline(value, ls="--", color=color, lw=1)
            ax.annotate(text, (0, value), xytext=(2, 3), textcoords="offset points", fontsize=8)
        ax.set(title=titles[key], xlabel="training step")
        ax.legend()
    axes[0].set_ylabel("loss [nats], running mean")
    fig.suptitle(title)
    return fig


def interpolations(decode, pairs: list[tuple[int, int]], z_dim: int, steps: int = 10, title: str = ""):
    """For each pair of seeds, the images along the linear and the spherical path between their codes."""
    t = torch.linspace(0, 1, steps)
    rows = {}
    with torch.no_grad():
        for a, b in pairs:
            za, zb = code_from_seed(a, z_dim), code_from_seed(b, z_dim)
            rows[f"seeds {a}->{b}: linear"] = decode(lerp(za, zb, t))
            rows[f"seeds {a}->{b}: spherical"] = decode(slerp(za, zb, t))
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 1.1 * len(rows)), layout="constrained")
    for ax, (name, images) in zip(axes, rows.items(), strict=True):
        plots.show_grid(images, nrow=steps, ax=ax)
        ax.set_title(name, fontsize=8, loc="left")
    fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------------------
# Flows
# ---------------------------------------------------------------------------------------


def two_moons_density(flow, data: torch.Tensor, limit: float = 3.0, n_show: int = 2000):
    """Data, learned density and samples of a 2-d flow, side by side."""
    grid = torch.linspace(-limit, limit, 200)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    with torch.no_grad():
        density = flow.log_prob(torch.stack([gx.flatten(), gy.flatten()], -1)).exp().reshape(200, 200)
        samples = flow.sample(n_show, generator=torch.Generator().manual_seed(1))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharex=True, sharey=True, layout="constrained")
    axes[0].scatter(data[:n_show, 0], data[:n_show, 1], s=2)
    axes[1].pcolormesh(grid, grid, density, cmap="magma", shading="auto")
    axes[2].scatter(samples[:, 0], samples[:, 1], s=2, color="tab:green")
    for ax, title in zip(axes, ["data", "learned density $p_X(x)$", "samples $f^{-1}(z)$"], strict=True):
        ax.set(title=title, aspect="equal", xlim=(-limit, limit), ylim=(-limit, limit))
    return fig


def coupling_warp(flow, data: torch.Tensor, stages: list[int], n_show: int = 1000):
    """A grid and the data pushed through the first 0, 2, 4, ... couplings of a 2-d flow."""
    t = torch.linspace(-2.5, 2.5, 200)
    lines = [torch.stack(pair, -1) for v in torch.linspace(-2.5, 2.5, 11) for pair in
             ((t, v.expand(200)), (v.expand(200), t))]  # fmt: skip

    def push(points, upto):
        for layer in flow.couplings[:upto]:
            points = layer(points)[0]
        return points

    fig, axes = plt.subplots(1, len(stages), figsize=(3.1 * len(stages), 3.2), layout="constrained")
    with torch.no_grad():
        for ax, upto in zip(axes, stages, strict=True):
            for line in lines:
                ax.plot(*push(line, upto).T, lw=0.5, color="gray")
            ax.scatter(*push(data[:n_show], upto).T, s=1, color="tab:blue")
            ax.set(title="data" if upto == 0 else f"after {upto} couplings", xlim=(-4, 4), ylim=(-4, 4),
                   aspect="equal", xticks=[], yticks=[])  # fmt: skip
    return fig


def jacobian_matrix(jacobian_sorted: torch.Tensor):
    """|J| on a log colour scale, kept coordinates first: the triangle of a coupling layer."""
    fig, ax = plt.subplots(figsize=(3.6, 3.4), layout="constrained")
    ax.imshow(jacobian_sorted.abs().log10().clamp(min=-4), cmap="Blues")
    ax.set(title="|J|, kept coordinates first (log scale)", xticks=[], yticks=[])
    return fig


def determinant_timings(dims: list[int]):
    """Seconds for a general log-determinant (slogdet, O(m^3)) and a coupling's (a sum, O(m))."""
    timing = {"general log|det| (slogdet)": [], "coupling log|det| (sum of s)": []}
    for m in dims:
        a, s = torch.randn(m, m) / math.sqrt(m) + torch.eye(m), torch.randn(m)
        t0 = time.perf_counter()
        torch.linalg.slogdet(a)
        t1 = time.perf_counter()
        s.sum()
        timing["general log|det| (slogdet)"].append(t1 - t0)
        timing["coupling log|det| (sum of s)"].append(time.perf_counter() - t1)
    fig, ax = plt.subplots(figsize=(5, 3.4), layout="constrained")
    for name, seconds in timing.items():
        ax.loglog(dims, seconds, "o-", label=name)
    ax.set(xlabel="dimension m", ylabel="seconds per determinant")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    figure_fingerprint.leave_out_data(fig, "wall-clock times")
    return fig
