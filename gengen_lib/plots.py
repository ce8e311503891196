"""Figures shared by the notebooks: image grids, training curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator
from torchvision.utils import make_grid

from .alt_text import describe
from .data import IMAGE_SHAPE

# The book's column is 688 CSS px wide on a 1280 px screen; a figure is shown at 100 px per
# inch (matplotlib's dpi) and shrunk to the column when wider. A figure at most COLUMN_INCHES
# wide is not shrunk there, so its text shows at 100/72 px per point: the smallest text of
# STYLE, 8.5 pt, at 11.8 px. Every figure of the course is drawn at most this wide.
COLUMN_INCHES = 6.88
STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
    "figure.dpi": 100,
}
SMALLEST_POINTS = 8.5  # the smallest font size a figure may use


def use_style() -> None:
    """Set matplotlib's text sizes and resolution to the course's :data:`STYLE`."""
    plt.rcParams.update(STYLE)


def as_images(x: torch.Tensor) -> torch.Tensor:
    """(N, 784) or (N, 28, 28) values in [0, 1] -> float (N, 1, 28, 28) on the CPU."""
    return x.detach().float().cpu().reshape(-1, 1, *IMAGE_SHAPE)


def grid(x: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """A (H, W) tensor tiling the images of ``x`` (values in [0, 1]) in rows of ``nrow``."""
    return make_grid(as_images(x), nrow=nrow, padding=padding, pad_value=1.0)[0]


def show_grid(x: torch.Tensor, nrow: int = 8, ax=None, title: str | None = None):
    """Draw a grid of images (values in [0, 1], black digits on white) on ``ax``."""
    ax = ax or plt.gca()
    ax.imshow(1.0 - grid(x, nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_grids(
    panels: dict[str, torch.Tensor],
    nrow: int = 8,
    size: float = 3.2,
    rows: int = 1,
    title: str | None = None,
    finding: str = "",
):
    """Several labelled grids side by side (e.g. before / halfway / after training), under an optional title.

    Panels are ``size`` inches square, shrunk so that the figure fits :data:`COLUMN_INCHES`.
    The figure describes itself (panel names and image counts), followed by ``finding``: what
    the reader should see in it, in numbers where there are any.
    """
    cols = -(-len(panels) // rows)
    size = min(size, COLUMN_INCHES / cols)
    height = size * rows + (0.4 if title else 0)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, height), squeeze=False, layout="constrained")
    for ax, (name, x) in zip(axes.flat, panels.items(), strict=False):
        show_grid(x, nrow, ax, name)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    contents = "; ".join(f"{name} ({len(as_images(x))} images)" for name, x in panels.items())
    heading = f"{title}: " if title else ""
    return describe(fig, f"{heading}{len(panels)} grid{'s' if len(panels) > 1 else ''} of images, black on white: "
                         f"{contents}. {finding}")  # fmt: skip


SNAPSHOT_TIMES = {"start": "start", "half": "halfway", "end": "end"}  # History.snapshots' keys -> panel titles


def show_snapshots(history, prefix: str = "", suffix: str = "", finding: str = "", size: float = 3.6):
    """A run's training snapshots side by side: the same noise vectors mapped to images at the start,
    halfway and at the end (a run too short for a halfway snapshot shows two); each panel's title is
    ``prefix`` + the time + ``suffix``."""
    panels = {f"{prefix}{title}{suffix}": history.snapshots[when] for when, title in SNAPSHOT_TIMES.items()
              if when in history.snapshots}  # fmt: skip
    return show_grids(panels, nrow=8, size=size, finding=finding)


def plot_curves(ax, curves: dict[str, list[float]], xlabel: str = "epoch", ylabel: str = "", hlines=None):
    """Line plot of named curves; ``hlines`` maps labels to horizontal reference values."""
    for label, ys in curves.items():
        ax.plot(range(1, len(ys) + 1), ys, label=label, marker="o" if len(ys) < 30 else None, ms=3)
    for label, y in (hlines or {}).items():
        ax.axhline(y, ls="--", lw=1, color="gray")
        ax.annotate(label, (1, y), textcoords="offset points", xytext=(2, 3), color="dimgray")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are whole numbers
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def smoothed(values: list[float], window: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Running means of a per-step curve over ``window`` steps (stride window / 4).

    Returns (steps, means): the step at the centre of each window and the window's mean,
    so a noisy per-step loss can be drawn against the training step.
    """
    v = torch.tensor(values, dtype=torch.float64)
    if len(v) < window:
        return torch.arange(1, len(v) + 1, dtype=torch.float64), v
    stride = max(window // 4, 1)
    means = torch.nn.functional.avg_pool1d(v[None, None], window, stride=stride)[0, 0]
    return torch.arange(len(means), dtype=torch.float64) * stride + window / 2, means


def print_table(rows: list[tuple[str, str]]) -> None:
    """Print (name, value) rows as two aligned columns."""
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def log_binned(values: list[float], bins: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """A per-step curve for a logarithmic step axis: means over log-spaced bins of steps.

    The first steps keep their own values (a bin of one step each); later bins average more
    steps, so the curve is neither noisy at the end nor blurred at the start.
    Returns (steps, means): the geometric centre of each bin (steps count from 1) and its mean.
    """
    v = torch.tensor(values, dtype=torch.float64)
    edges = torch.unique(torch.logspace(0, torch.log10(torch.tensor(len(v) + 1.0)), bins + 1).floor().long())
    steps, means = [], []
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        steps.append((lo * (hi - 1)) ** 0.5 if hi - 1 > lo else float(lo))
        means.append(v[lo - 1 : hi - 1].mean().item())
    return torch.tensor(steps), torch.tensor(means)


def glue_figure(name: str, fig) -> None:
    """Hand ``fig`` to the book under ``name`` and close it.

    A MyST ``{glue:figure}`` directive with ``:name: name`` then shows it with a numbered
    caption, and ``{numref}`` refers to it; in JupyterLab the figure is shown as usual.
    """
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)
