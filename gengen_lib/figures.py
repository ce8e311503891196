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

from . import alt_text, figure_fingerprint, plots
from .latent import code_from_seed, lerp, slerp

# ---------------------------------------------------------------------------------------
# VAE
# ---------------------------------------------------------------------------------------


def naive_vs_importance(sizes: list[int], naive: dict[int, torch.Tensor], is_ref: torch.Tensor, k: int):
    """Prior Monte Carlo estimates of log p(x) (nats) against the importance-sampling value, per digit.

    ``naive[L]``: (repeats, digits) estimates with L prior samples; ``is_ref``: (digits,).
    """
    repeats = len(next(iter(naive.values())))
    cols = min(len(is_ref), 2)
    rows = -(-len(is_ref) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(plots.COLUMN_INCHES, 2.6 * rows), sharex=True, squeeze=False,
                             layout="constrained")  # fmt: skip
    axes = list(axes.flat)
    for ax in axes[len(is_ref) :]:
        ax.set_axis_off()
    for j, ax in zip(range(len(is_ref)), axes, strict=False):
        runs = [naive[L][:, j] for L in sizes]
        ax.fill_between(sizes, [r.min() for r in runs], [r.max() for r in runs], alpha=0.25,
                        label=f"prior MC: range of {repeats} runs")  # fmt: skip
        ax.plot(sizes, [r.mean() for r in runs], "o-", label="prior MC: mean")
        ax.axhline(is_ref[j].item(), color="k", ls="--", label=f"importance sampling, k={k}")
        ax.set(xscale="log", title=f"test digit {j}", xlabel="samples L" if j >= len(is_ref) - cols else None)
        if j % cols == 0:
            ax.set_ylabel("log p(x) [nats]")
    axes[0].legend(loc="lower right")
    largest = max(sizes)
    gaps = [(is_ref[j] - naive[largest][:, j].mean()).item() for j in range(len(is_ref))]
    return alt_text.describe(fig, (
        f"{len(is_ref)} panels, one per test digit: the prior Monte Carlo estimate of log p(x) in nats "
        f"(mean and range of {repeats} runs) against the number of samples L on a log axis, from {min(sizes):,} "
        f"to {largest:,}, with the importance-sampling value (k={k}) as a dashed line. The naive estimate rises "
        f"with L but stays below the dashed line: at L={largest:,} it is {min(gaps):.0f} to {max(gaps):.0f} nats "
        f"too low."))


def kl_heatmap(kl_of, mu_range=(-4.0, 4.0), sigma_range=(0.02, 20.0), n: int = 161):
    """KL(N(mu, sigma^2) || N(0, 1)) over a grid of (mu, sigma), with ``kl_of(mu, logvar)`` per point.

    Returns (figure, grid minimum as (kl, mu, sigma)).
    """
    mus = torch.linspace(*mu_range, n)
    log_sigmas = torch.linspace(math.log(sigma_range[0]), math.log(sigma_range[1]), n)
    M, LS = torch.meshgrid(mus, log_sigmas, indexing="xy")  # row i: sigma = exp(log_sigmas[i])
    kl = kl_of(M[..., None], 2 * LS[..., None])
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    im = ax.pcolormesh(mus, log_sigmas.exp(), kl.log10(), cmap="viridis", shading="auto")
    ax.contour(mus, log_sigmas.exp(), kl, levels=[0.5, 2, 8, 32], colors="w", linewidths=0.7)
    ax.plot([0], [1], "r*", ms=12, label="q = p: KL = 0")
    ax.set(yscale="log", xlabel=r"$\mu_q$", ylabel=r"$\sigma_q$")
    ax.set_title("KL grows with |μ|, and as σ → 0 or σ → ∞")
    ax.legend(loc="upper right")
    fig.colorbar(im, label=r"$\log_{10}$ KL(q || p)")
    i = kl.argmin()
    low = (kl.min().item(), M.flatten()[i].item(), LS.exp().flatten()[i].item())
    alt_text.describe(fig, (
        f"Heat map of log10 KL(N(mu, sigma^2) || N(0, 1)) over mu from {mu_range[0]:g} to {mu_range[1]:g} "
        f"(horizontal) and sigma from {sigma_range[0]:g} to {sigma_range[1]:g} on a log axis (vertical), with "
        f"contours at 0.5, 2, 8 and 32 nats. The smallest value on the grid, {low[0]:.4f} nats, is at "
        f"mu = {low[1]:.2f}, sigma = {low[2]:.2f} (the star); the KL reaches {kl.max().item():.0f} nats in the "
        f"corners, growing with |mu| and as sigma moves away from 1 in either direction."))
    return fig, low


def latent_manifold(decode_means, grid_z: torch.Tensor, codes: torch.Tensor, labels: torch.Tensor, title: str = ""):
    """The 2-d VAE: decoded means on a latent grid beside the posterior means of labelled images."""
    with torch.no_grad():
        manifold = decode_means(grid_z)
    side = int(round(len(grid_z) ** 0.5))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(plots.COLUMN_INCHES * 0.8, 11.2),
                                   gridspec_kw={"height_ratios": [1, 0.95]}, layout="constrained")  # fmt: skip
    plots.show_grid(manifold, nrow=side, ax=ax1, title="decoded means on the inverse-CDF grid of $[0.05, 0.95]^2$")
    sc = ax2.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=3, alpha=0.6)
    q = grid_z[:, 0].unique()
    ax2.add_patch(plt.Rectangle((q.min(), q.min()), q.max() - q.min(), q.max() - q.min(), fill=False, ls="--"))
    ax2.set(xlabel="$z_1$", ylabel="$z_2$", title="posterior means of test images (dashed: the grid above)")
    fig.colorbar(sc, ax=ax2, ticks=range(10), label="digit")
    fig.suptitle(title)
    spread = codes.std(0)
    return alt_text.describe(fig, (
        f"Top: a {side} by {side} grid of images decoded from an evenly spaced grid of latent codes of the "
        f"2-dimensional VAE. Bottom: the posterior means of {len(codes):,} test images in the latent plane "
        f"(z1 horizontal, z2 vertical), coloured by digit, with the decoded grid's square dashed; they spread "
        f"with standard deviations {spread[0].item():.2f} and {spread[1].item():.2f}, and each digit occupies "
        f"its own region, as in the decoded grid."))


# ---------------------------------------------------------------------------------------
# GAN
# ---------------------------------------------------------------------------------------


def generator_losses():
    """The minimax and non-saturating generator losses and their gradients against D(G(z))."""
    d = torch.linspace(0.001, 0.999, 500)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(plots.COLUMN_INCHES, 3.4), layout="constrained")
    ax1.plot(d, torch.log(1 - d), label=r"minimax: $\log(1 - D)$")
    ax1.plot(d, -torch.log(d), label=r"non-saturating: $-\log D$")
    ax1.set(xlabel="D(G(z))", ylabel="generator loss (minimised)", title="the two generator losses")
    ax2.plot(d, d, label="minimax: D")
    ax2.plot(d, 1 - d, label="non-saturating: 1 - D")
    ax2.axvspan(0, 0.1, color="tab:red", alpha=0.1)
    ax2.annotate("early training:\nD rejects fakes", (0.02, 0.45))
    ax2.set(xlabel="D(G(z))", ylabel="|d loss / d logit|", title="their gradients")
    for ax in (ax1, ax2):
        ax.legend(loc="upper center")
    return alt_text.describe(fig, (
        "Two panels against D(G(z)) from 0 to 1. Left: the minimax generator loss log(1 - D) and the "
        "non-saturating loss -log D. Right: the size of their gradients with respect to the discriminator's "
        "logit, D for minimax and 1 - D for non-saturating. In the shaded early-training region D(G(z)) < 0.1, "
        "where the discriminator rejects the fakes, the minimax gradient is below 0.1 while the "
        "non-saturating one is above 0.9."))


def gan_losses(histories: dict, titles: dict, window: int = 200, title: str = ""):
    """Running means of the discriminator and generator losses per setting, with log 4 and log 2."""
    fig, axes = plt.subplots(1, len(histories), figsize=(plots.COLUMN_INCHES, 3.4), sharey=True, layout="constrained")
    for ax, (key, history) in zip(axes, histories.items(), strict=True):
        for name, label in [("d_loss", "$L_D$"), ("g_loss", "$L_G$")]:
            ax.plot(*plots.smoothed(history.steps[name], window=window), label=label)
        for value, text, color in [(math.log(4), "log 4", "tab:blue"), (math.log(2), "log 2", "tab:orange")]:
            ax.axhline(value, ls="--", color=color, lw=1)
            ax.annotate(text, (0, value), xytext=(2, 3), textcoords="offset points")
        ax.set(title=titles[key], xlabel="training step")
        ax.legend(loc="upper right")
    axes[0].set_ylabel("loss [nats], running mean")
    fig.suptitle(title)
    finals = "; ".join(f"{titles[key]}: L_D ends at {_tail_mean(h.steps['d_loss'], window):.2f}, L_G at "
                       f"{_tail_mean(h.steps['g_loss'], window):.2f}" for key, h in histories.items())  # fmt: skip
    return alt_text.describe(fig, (
        f"{len(histories)} panels, one per setting: running means over {window} steps of the discriminator loss "
        f"L_D and the generator loss L_G in nats against the training step, with dashed lines at log 4 = 1.39 "
        f"(L_D when D outputs 1/2 everywhere) and log 2 = 0.69 (L_G then). {finals}."))


def class_histograms(
    counts: dict[str, list[int]],
    title: str = "class histograms of the samples",
    what: tuple[str, str] = ("model", "models"),
):
    """How many samples of each model the MNIST classifier assigns to each digit: one bar per name and digit,
    a dashed line at an even tenth. ``counts``: name -> 10 counts, each over the same n samples; ``what``:
    what the names are, singular and plural, for the description (e.g. ``("setting", "settings")``)."""
    n = sum(next(iter(counts.values())))
    width = 0.8 / len(counts)
    fig, ax = plt.subplots(figsize=(plots.COLUMN_INCHES, 3.2), layout="constrained")
    for i, (name, c) in enumerate(counts.items()):
        ax.bar([digit + (i - (len(counts) - 1) / 2) * width for digit in range(10)], c, width, label=name)
    ax.axhline(n / 10, ls="--", color="gray", lw=1)
    ax.set_xticks(range(10))
    ax.set(xlabel="digit predicted by the MNIST classifier", ylabel=f"samples (of {n:,})", title=title)
    fig.legend(loc="outside lower center", ncols=len(counts))  # below the axes: it hides no bar
    largest = "; ".join(f"{name} {max(c) / sum(c):.1%} (digit {max(range(10), key=c.__getitem__)})"
                        for name, c in counts.items())  # fmt: skip
    return alt_text.describe(fig, (
        f"Bar chart of how many of {n:,} samples of each of {len(counts)} {what[1]} the MNIST classifier assigns "
        f"to each digit 0 to 9, one bar per {what[0]} and digit, with a dashed line at an even tenth, "
        f"{n // 10:,}. "
        f"Largest class: {largest}."))


def _tail_mean(values: list[float], window: int) -> float:
    """Mean of the last ``window`` values of a per-step curve."""
    tail = values[-window:]
    return sum(tail) / len(tail)


def interpolations(decode, pairs: list[tuple[int, int]], z_dim: int, steps: int = 10, title: str = ""):
    """For each pair of seeds, the images along the linear and the spherical path between their codes."""
    t = torch.linspace(0, 1, steps)
    rows, mid_norms = {}, {"linear": [], "spherical": []}
    with torch.no_grad():
        for a, b in pairs:
            za, zb = code_from_seed(a, z_dim), code_from_seed(b, z_dim)
            mid_norms["linear"].append(lerp(za, zb, 0.5).norm().item())
            mid_norms["spherical"].append(slerp(za, zb, 0.5).norm().item())
            rows[f"seeds {a}->{b}: linear"] = decode(lerp(za, zb, t))
            rows[f"seeds {a}->{b}: spherical"] = decode(slerp(za, zb, t))
    fig, axes = plt.subplots(len(rows), 1, figsize=(plots.COLUMN_INCHES, 0.95 * len(rows)), layout="constrained")
    for ax, (name, images) in zip(axes, rows.items(), strict=True):
        plots.show_grid(images, nrow=steps, ax=ax)
        ax.set_title(name, fontsize=plots.SMALLEST_POINTS + 0.5, loc="left")
    fig.suptitle(title)
    return alt_text.describe(fig, (
        f"{len(rows)} rows of {steps} generated digits. For each of {len(pairs)} pairs of random codes, one row "
        f"follows the straight line between them and the next the great-circle (spherical) path; both start "
        f"and end at the same two images. Halfway, the spherical path's codes have lengths "
        f"{min(mid_norms['spherical']):.1f} to {max(mid_norms['spherical']):.1f}, typical of the prior (about "
        f"sqrt({z_dim}) = {math.sqrt(z_dim):.1f}); the straight line's only {min(mid_norms['linear']):.1f} to "
        f"{max(mid_norms['linear']):.1f}."))


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
    fig, axes = plt.subplots(1, 3, figsize=(plots.COLUMN_INCHES, 2.7), sharex=True, sharey=True, layout="constrained")
    axes[0].scatter(data[:n_show, 0], data[:n_show, 1], s=2)
    axes[1].pcolormesh(grid, grid, density, cmap="magma", shading="auto")
    axes[2].scatter(samples[:, 0], samples[:, 1], s=2, color="tab:green")
    for ax, title in zip(axes, ["data", "learned density $p_X(x)$", "samples $f^{-1}(z)$"], strict=True):
        ax.set(title=title, aspect="equal", xlim=(-limit, limit), ylim=(-limit, limit))
    cell = (2 * limit / 199) ** 2
    mass = (density.sum() * cell).item()
    return alt_text.describe(fig, (
        f"Three square panels over [-{limit:g}, {limit:g}]^2. Left: {min(n_show, len(data)):,} points of the "
        f"two-moons data. Middle: the flow's density p_X(x) as a heat map (bright is high), which follows the "
        f"two crescents; it integrates to {mass:.3f} over the square. Right: {n_show:,} samples of the flow, "
        f"which trace the same two crescents."))


def coupling_warp(flow, data: torch.Tensor, stages: list[int], n_show: int = 1000):
    """A grid and the data pushed through the first 0, 2, 4, ... couplings of a 2-d flow."""
    t = torch.linspace(-2.5, 2.5, 200)
    lines = [torch.stack(pair, -1) for v in torch.linspace(-2.5, 2.5, 11) for pair in
             ((t, v.expand(200)), (v.expand(200), t))]  # fmt: skip

    def push(points, upto):
        for layer in flow.couplings[:upto]:
            points = layer(points)[0]
        return points

    width = plots.COLUMN_INCHES / len(stages)
    fig, axes = plt.subplots(1, len(stages), figsize=(plots.COLUMN_INCHES, width + 0.4), layout="constrained")
    with torch.no_grad():
        for ax, upto in zip(axes, stages, strict=True):
            for line in lines:
                ax.plot(*push(line, upto).T, lw=0.5, color="gray")
            ax.scatter(*push(data[:n_show], upto).T, s=1, color="tab:blue")
            ax.set(title="data" if upto == 0 else f"{upto} couplings", xlim=(-4, 4), ylim=(-4, 4),
                   aspect="equal", xticks=[], yticks=[])  # fmt: skip
    return alt_text.describe(fig, (
        f"{len(stages)} panels: a square grid of lines and {n_show:,} two-moons points, pushed through the first "
        f"{', '.join(str(s) for s in stages)} coupling layers of the flow. Step by step the grid bends and the "
        f"two crescents are pulled apart and spread out until, after {stages[-1]}, the points look like a round "
        f"Gaussian cloud."))


def jacobian_matrix(jacobian_sorted: torch.Tensor):
    """|J| on a log colour scale, kept coordinates first: the triangle of a coupling layer."""
    fig, ax = plt.subplots(figsize=(4.4, 3.6), layout="constrained")
    magnitude = jacobian_sorted.abs().log10().clamp(min=-4)
    im = ax.imshow(magnitude, cmap="Blues", vmin=-4)
    ax.set(title="|J|, kept coordinates first", xlabel="input coordinate", ylabel="output coordinate",
           xticks=[], yticks=[])  # fmt: skip
    fig.colorbar(im, label=r"$\log_{10} |J_{ij}|$ (below $10^{-4}$: white)")
    m = len(jacobian_sorted)
    above = jacobian_sorted.triu(1).abs().max().item()
    return alt_text.describe(fig, (
        f"The {m} by {m} Jacobian of a coupling layer, absolute values on a log colour scale from 1e-4 (white) "
        f"upwards (dark blue), rows and columns ordered with the kept coordinates first. Everything above the "
        f"diagonal is zero (largest entry there: {above:.1g}): the matrix is lower triangular, so its determinant "
        f"is the product of its diagonal."))


def best_seconds(fn, repeats: int = 5) -> float:
    """The shortest of ``repeats`` timings of ``fn()`` in seconds: a busy machine only ever adds time."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def determinant_timings(dims: list[int]):
    """Seconds for a general log-determinant (slogdet, O(m^3)) and a coupling's (a sum, O(m)).

    Returns (figure, {method: seconds per dimension in ``dims``}).
    """
    timing = {"general log|det| (slogdet)": [], "coupling log|det| (sum of s)": []}
    for m in dims:
        a, s = torch.randn(m, m) / math.sqrt(m) + torch.eye(m), torch.randn(m)
        timing["general log|det| (slogdet)"].append(best_seconds(lambda a=a: torch.linalg.slogdet(a)))
        timing["coupling log|det| (sum of s)"].append(best_seconds(lambda s=s: s.sum()))
    fig, ax = plt.subplots(figsize=(5, 3.4), layout="constrained")
    for name, seconds in timing.items():
        ax.loglog(dims, seconds, "o-", label=name)
    ax.set(xlabel="dimension m", ylabel="seconds per determinant")
    ax.legend()
    ax.grid(alpha=0.3)
    figure_fingerprint.leave_out_data(fig, "wall-clock times")
    general, coupling = timing.values()
    return alt_text.describe(fig, (
        f"Seconds per log-determinant against the dimension m from {dims[0]} to {dims[-1]}, both axes "
        f"logarithmic: a general matrix (slogdet) took {general[0]:.1e} s at m = {dims[0]} and {general[-1]:.1e} s "
        f"at m = {dims[-1]}; a coupling layer's sum took {coupling[0]:.1e} s and {coupling[-1]:.1e} s.")), timing
