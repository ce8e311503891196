"""Export flow matching for the book's in-page flow-matching explorer (``book/fm_explorer.md``).

The static book has no Python kernel, so the page runs what it can itself, in JavaScript
(``book/explorer/fm-explorer.js`` on ``explorer-core.js``): the two-moons velocity field (an MLP,
a few tens of thousands of multiply-adds per point), carried by Euler, midpoint or RK4 steps,
and its exact 2x2 divergence for the density. The MNIST U-Net is another matter (about a hundred
times more work per image and evaluation than the page can spare), so its trajectories are
computed here, once, and the page only shows them.

Velocity file (format ``gengen-flow-matching``, version 1). One JSON object::

    {"format": "gengen-flow-matching", "version": 1, "name": "moons", "dtype": "float16", "dim": 2,
     "hidden": 128, "time_dim": 16, "max_frequency": 1000.0,
     "layers": [LAYER, LAYER, LAYER, LAYER], "extras": {"points": ARRAY, "particles": ARRAY},
     "info": {...}}

with ARRAY as in :mod:`.format` and LAYER = ``{"weight": ARRAY (out, in), "bias": ARRAY (out,)}``:
the velocity :class:`~gengen_lib.flow_matching.MLPVelocity` (its weight average, the one that
samples) computes, for a point x (dim,) at time t::

    f = [sin(2 pi t w_k), cos(2 pi t w_k)],  w_k = exp(k ln(max_frequency) / (time_dim/2 - 1)), k < time_dim/2
    h1 = silu(W1 [x, f] + b1),  h2 = silu(W2 h1 + b2),  h3 = silu(W3 h2 + b3),  v = W4 h3 + b4

``extras`` (float32): ``points`` (n, 2), training points drawn on the page; ``particles`` (n, 2),
the page's starting noise x0 ~ N(0, I).

Trajectory file (format ``gengen-fm-trajectories``, version 1)::

    {"format": "gengen-fm-trajectories", "version": 1, "name": "mnist", "dtype": "uint8",
     "seeds": [...], "times": [...], "solver": {"method": "midpoint", "steps": 10},
     "images": ARRAY (seeds, times, 28, 28), "info": {...}}

``images[i, j]`` is x_t for t = ``times[j]`` on the path of the shipped MNIST model that starts at
the noise ``torch.randn(1, 784, generator=torch.Generator().manual_seed(seeds[i]))`` (the draw of
``model.sample(1, generator=...)``), solved by :func:`gengen_lib.flow_matching.trajectory` with the
shipped solver, mapped to pixels by the model's own inverse of its logit step, clipped to [0, 1]
and stored as round(255 u): 255 is full ink. Both files are ``.js`` under
``window.GENGEN_FLOW_MATCHING[name]`` (or plain ``.json``).

:func:`export_book_flow_matching` writes ``fm_moons.js`` and ``fm_mnist.js`` (one of the exporters
of ``python -m gengen_lib.export``); nothing is trained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import pretrained
from ..flow_matching import SHIPPED_SOLVER, FlowMatchingModel, MLPVelocity, trajectory
from ..runtime import torch_threads
from .format import (
    BOOK_DIR,
    decode_array,
    document,
    encode_array,
    encode_extras,
    encode_linears,
    load_linears,
    read_document,
    write_document,
)

FORMAT = "gengen-flow-matching"
TRAJECTORY_FORMAT = "gengen-fm-trajectories"
VERSION = 1
REGISTRY = "GENGEN_FLOW_MATCHING"
# time_features' frequencies run from 1 to this, geometrically (gengen_lib.flow_matching.time_features).
MAX_FREQUENCY = 1000.0

MOONS_MODEL = "flow-matching-moons"
MNIST_MODEL = "flow-matching"
MOONS_SHOWN = 1000  # training points drawn on the page
PARTICLES = 400  # the page's particles, x0 ~ N(0, I)
PARTICLE_SEED = 0
MNIST_SEEDS = tuple(range(8))
MNIST_TIMES = 21  # t = 0, 0.05, ..., 1
# Velocity evaluations per step of each fixed-step solver (torchdiffeq's rk4 is the 3/8 rule: four).
EVALUATIONS_PER_STEP = {"euler": 1, "midpoint": 2, "rk4": 4}


def _linears(velocity: MLPVelocity) -> list[nn.Linear]:
    if not isinstance(velocity, MLPVelocity):
        raise TypeError(f"expected a gengen_lib.flow_matching.MLPVelocity, got a {type(velocity).__name__}")
    modules = list(velocity.net)
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    others = [m for m in modules if not isinstance(m, nn.Linear)]
    if len(linears) != 4 or not all(isinstance(m, nn.SiLU) for m in others) or len(others) != 3:
        raise TypeError("expected a gengen_lib.flow_matching.MLPVelocity: Linear, SiLU, ..., Linear (four Linear)")
    return linears


def velocity_document(
    model: FlowMatchingModel | MLPVelocity, name: str, dtype: str = "float16", extras: dict | None = None,
    info: dict | None = None,
) -> dict:  # fmt: skip
    """The JSON-able description of the velocity MLP of ``model`` (its weight average for a
    :class:`FlowMatchingModel`); see the module docstring. ``extras`` are stored float32."""
    velocity = model.velocity if isinstance(model, FlowMatchingModel) else model
    linears = _linears(velocity)
    return document(
        FORMAT, VERSION, name, dtype, info,
        dim=linears[-1].out_features,
        hidden=linears[0].out_features,
        time_dim=velocity.time_dim,
        max_frequency=MAX_FREQUENCY,
        layers=encode_linears(linears, dtype),
        extras=encode_extras(extras),
    )  # fmt: skip


def load_velocity(path: str | Path) -> tuple[MLPVelocity, dict]:
    """Read a velocity file back: (an :class:`MLPVelocity` in eval mode with those weights, the document)."""
    doc = read_document(path, format=FORMAT, version=VERSION)
    velocity = MLPVelocity(doc["dim"], doc["hidden"], doc["time_dim"])
    load_linears(_linears(velocity), doc["layers"], doc["dtype"])
    return velocity.eval(), doc


def seed_noise(seeds, dim: int) -> torch.Tensor:
    """The starting noise of each seed, (len(seeds), dim): what ``model.sample(1, generator=seed)`` draws."""
    return torch.cat([torch.randn(1, dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


def trajectory_times(count: int = MNIST_TIMES) -> torch.Tensor:
    """``count`` evenly spaced times from 0 to 1, float32."""
    return torch.linspace(0.0, 1.0, count)


@torch.no_grad()
def mnist_trajectories(model: FlowMatchingModel, seeds=MNIST_SEEDS, times: torch.Tensor | None = None,
                       solver: dict | None = None) -> np.ndarray:  # fmt: skip
    """Images x_t (len(seeds), len(times), 28, 28) as uint8 ink (255 = full ink) along each seed's path.

    One torch thread, so that the bytes do not depend on the machine's thread count.
    """
    times = trajectory_times() if times is None else times
    solver = dict(SHIPPED_SOLVER if solver is None else solver)
    with torch_threads(1):
        x0 = seed_noise(seeds, model.dim)
        path = trajectory(model.velocity, x0, times, **solver)  # (T, S, 784)
        ink = model.preprocess.inverse(path).clamp(0, 1)
    pixels = (ink * 255).round().to(torch.uint8).reshape(len(times), len(x0), *model.image_shape)
    return pixels.transpose(0, 1).contiguous().numpy()


def multiply_adds(velocity: nn.Module, x: torch.Tensor, t: torch.Tensor) -> int:
    """Multiply-adds of one evaluation ``velocity(x, t)`` in its convolutions and linear layers (the bulk of it)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += output.numel() * k
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in velocity.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            velocity(x, t)
    finally:
        for h in hooks:
            h.remove()
    return total


def trajectory_document(images: np.ndarray, seeds, times, solver: dict, name: str = "mnist",
                        info: dict | None = None) -> dict:  # fmt: skip
    """The JSON-able description of precomputed trajectories (see the module docstring)."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[:2] != (len(seeds), len(times)):
        raise ValueError(f"images must be uint8 (seeds, times, H, W); got {images.dtype} {images.shape}")
    return document(
        TRAJECTORY_FORMAT, VERSION, name, "uint8", info, dtypes=("uint8",),
        seeds=[int(s) for s in seeds],
        times=[float(t) for t in times],
        solver=dict(solver),
        images=encode_array(images, "uint8"),
    )  # fmt: skip


def load_trajectories(path: str | Path) -> tuple[np.ndarray, dict]:
    """Read a trajectory file back: (images uint8 (seeds, times, 28, 28), the document)."""
    doc = read_document(path, format=TRAJECTORY_FORMAT, version=VERSION)
    return decode_array(doc["images"], "uint8").astype(np.uint8), doc


def export_book_flow_matching(out_dir: str | Path = BOOK_DIR) -> list[Path]:
    """Write the flow-matching explorer's two files to ``out_dir``: ``fm_moons.js`` and ``fm_mnist.js``.

    ``fm_moons.js``: the shipped two-moons velocity (``weights/flow-matching-moons``, float16, exact),
    the first 1,000 of its training points and the page's 400 particles. ``fm_mnist.js``: the
    trajectories of :data:`MNIST_SEEDS` under the shipped MNIST model (``weights/flow-matching``)
    at 21 times, with the size of one U-Net evaluation. Returns the two paths.
    """
    out_dir = Path(out_dir)
    moons, moons_history = pretrained.load(MOONS_MODEL)
    _, settings = pretrained.SHIPPED[MOONS_MODEL]
    entry = pretrained.manifest()[MOONS_MODEL]
    particles = torch.randn(PARTICLES, 2, generator=torch.Generator().manual_seed(PARTICLE_SEED))
    x = torch.zeros(1, 2)
    moons_path = write_document(
        velocity_document(
            moons, "moons", extras={"points": settings.training_points()[:MOONS_SHOWN], "particles": particles},
            info={
                "model": f"flow matching on two moons, MLP velocity {settings.hidden} wide, "
                f"{len(moons_history.epochs)} epochs (weights/{MOONS_MODEL})",
                "valid_nll": entry["metrics"].get("valid_nll"),
                "multiply_adds": multiply_adds(moons.velocity, x, torch.zeros(1)),
            },
        ),
        out_dir / "fm_moons.js",
        REGISTRY,
    )  # fmt: skip

    mnist, mnist_history = pretrained.load(MNIST_MODEL)
    times = trajectory_times()
    images = mnist_trajectories(mnist, MNIST_SEEDS, times, SHIPPED_SOLVER)
    parameters = sum(p.numel() for p in mnist.velocity.parameters())
    unet = multiply_adds(mnist.velocity, torch.zeros(1, mnist.dim), torch.zeros(1))
    mnist_path = write_document(
        trajectory_document(
            images, MNIST_SEEDS, times.tolist(), SHIPPED_SOLVER,
            info={
                "model": f"flow matching on MNIST, U-Net velocity, {len(mnist_history.epochs)} epochs "
                f"(weights/{MNIST_MODEL})",
                "unet_parameters": parameters,
                "unet_multiply_adds": unet,
                "evaluations_per_sample": SHIPPED_SOLVER["steps"] * EVALUATIONS_PER_STEP[SHIPPED_SOLVER["method"]],
            },
        ),
        out_dir / "fm_mnist.js",
        REGISTRY,
    )  # fmt: skip
    return [moons_path, mnist_path]
