"""Export RealNVP flows for the book's in-page flow explorer (``book/flow_explorer.md``).

The static book has no Python kernel, so the page runs the flows itself, in JavaScript
(``book/explorer/flow-explorer.js`` on ``explorer-core.js``): the two-moons flow of the flow
chapter forward (density, warped grid, one point's change of variables) and the shipped MNIST
flow in reverse (samples at a temperature). This module writes the weights they need.

File format (version 1). One JSON object::

    {"format": "gengen-flow", "version": 1, "name": "moons", "dtype": "float32", "dim": 2,
     "hidden": 64, "learned_scale": true, "logit_alpha": null, "image_shape": null,
     "couplings": [{"kept": [0], "free": [1],
                    "trunk": [LAYER, LAYER], "t_head": [LAYER, LAYER],
                    "s_head": [LAYER, LAYER], "s_scale": ARRAY}, ...],
     "extras": {"points": ARRAY}, "info": {...}}

with every ARRAY as in :mod:`.format` (base64 of little-endian bytes in ``dtype``,
row-major) and LAYER = ``{"weight": ARRAY (out, in), "bias": ARRAY (out,)}``. The couplings
are listed in the data -> noise order of :meth:`RealNVP.forward`; each one
(:class:`~gengen_lib.flows.AffineCoupling`) reads the coordinates ``kept`` and moves the
coordinates ``free``::

    h = relu(W2 relu(W1 x[kept] + b1) + b2)                         trunk
    t = W4 relu(W3 h + b3) + b4                                      t_head
    s = s_scale * tanh(W6 relu(W5 h + b5) + b6)   (s = 0 when learned_scale is false)
    y[kept] = x[kept],  y[free] = x[free] * exp(s) + t,  log|det dy/dx| = sum(s)

With ``logit_alpha`` set, a :class:`~gengen_lib.flows.LogitTransform` comes before the first
coupling (inputs in [0, 1]). ``extras`` holds float32 arrays the page shows besides the model:
``points`` (n, 2), the data drawn on the two-moons panel; ``noise`` (16, 784), the chapter's
fixed noise for the MNIST samples. In a ``.js`` file the JSON is stored under
``window.GENGEN_FLOWS[name]``. :func:`load_flow` reads a file back into a
:class:`~gengen_lib.flows.RealNVP`.

:func:`export_book_flows` writes the book's ``flow_moons.js`` and ``flow_mnist.js`` (one of the
exporters of ``python -m gengen_lib.export``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .. import pretrained
from ..flows import AffineCoupling, RealNVP, chapter_noise
from .format import (
    BOOK_DIR,
    decode_tensor,
    document,
    encode_extras,
    encode_linears,
    encode_tensor,
    load_linears,
    read_document,
    write_document,
)

FORMAT = "gengen-flow"
VERSION = 1
REGISTRY = "GENGEN_FLOWS"

# The two-moons panel draws the first 1,000 training points, as figures.coupling_warp does.
MOONS_SHOWN = 1000
# The shipped two-moons flow the page draws (the flow chapter's, which it loads in full mode).
MOONS_FLOW = "flow-moons"
# The shipped MNIST flow the page samples from (the chapter's learned-scale flow).
MNIST_FLOW = "flow-learned-scale"


def _linear_pair(block: nn.Sequential) -> tuple[nn.Linear, nn.Linear]:
    """The two Linear layers of a trunk or head (Linear, ReLU, Linear[, ReLU])."""
    linears = [m for m in block if isinstance(m, nn.Linear)]
    if len(linears) != 2:
        raise TypeError(f"expected two Linear layers in {block}, found {len(linears)}")
    return linears[0], linears[1]


def _coupling_document(coupling: AffineCoupling, dtype: str) -> dict:
    doc = {
        "kept": coupling.kept_index.tolist(),
        "free": coupling.free_index.tolist(),
        "trunk": encode_linears(_linear_pair(coupling.trunk), dtype),
        "t_head": encode_linears(_linear_pair(coupling.t_head), dtype),
    }
    if coupling.learned_scale:
        doc["s_head"] = encode_linears(_linear_pair(coupling.s_head), dtype)
        doc["s_scale"] = encode_tensor(coupling.s_scale, dtype)
    return doc


def flow_document(
    model: RealNVP, name: str, dtype: str = "float32", extras: dict | None = None, info: dict | None = None
) -> dict:
    """The JSON-able description of ``model`` (see the module docstring); ``extras`` are stored float32."""
    config = model.config
    return document(
        FORMAT, VERSION, name, dtype, info,
        dim=config.dim,
        hidden=config.hidden,
        learned_scale=config.learned_scale,
        logit_alpha=config.logit_alpha,
        image_shape=list(config.image_shape) if config.image_shape else None,
        couplings=[_coupling_document(c, dtype) for c in model.couplings],
        extras=encode_extras(extras),
    )  # fmt: skip


def export_flow(model: RealNVP, path: str | Path, **kwargs) -> Path:
    """Write ``model`` to ``path`` (``.json``, or ``.js`` stored as ``window.GENGEN_FLOWS[name]``).

    Keyword arguments go to :func:`flow_document`; ``name`` defaults to the file's stem.
    """
    path = Path(path)
    kwargs.setdefault("name", path.stem)
    return write_document(flow_document(model, **kwargs), path, registry=REGISTRY)


@torch.no_grad()
def load_flow(path: str | Path) -> tuple[RealNVP, dict]:
    """Read an exported file back: (a :class:`RealNVP` in eval mode with those weights, the document)."""
    doc = read_document(path, format=FORMAT, version=VERSION)
    couplings = doc["couplings"]
    if not couplings or len(couplings) % 2:
        raise ValueError(f"{path}: a RealNVP has pairs of couplings, the file has {len(couplings)}")
    shape = tuple(doc["image_shape"]) if doc["image_shape"] else None
    model = RealNVP(len(couplings) // 2, doc["hidden"], doc["learned_scale"], doc["dim"], doc["logit_alpha"], shape)
    for coupling, entry in zip(model.couplings, couplings, strict=True):
        if entry["kept"] != coupling.kept_index.tolist() or entry["free"] != coupling.free_index.tolist():
            raise ValueError(f"{path}: the couplings' kept and free coordinates are not RealNVP's masks")
        for block in ("trunk", "t_head", "s_head") if doc["learned_scale"] else ("trunk", "t_head"):
            load_linears(_linear_pair(getattr(coupling, block)), entry[block], doc["dtype"])
        if doc["learned_scale"]:
            coupling.s_scale.copy_(decode_tensor(entry["s_scale"], doc["dtype"]))
    return model.eval(), doc


def export_book_flows(out_dir: str | Path = BOOK_DIR) -> list[Path]:
    """Write the flow explorer's two flows to ``out_dir``: ``flow_moons.js`` and ``flow_mnist.js``.

    ``flow_moons.js``: the flow chapter's two-moons flow (the shipped ``weights/flow-moons``, which the
    chapter loads in full mode) with the first 1,000 of its training points.
    ``flow_mnist.js``: the shipped learned-scale MNIST flow (``weights/flow-learned-scale``) with the
    chapter's 16 noise vectors (:func:`gengen_lib.flows.chapter_noise`). Both float16, which is
    exact: the shipped weights are float16. Returns the two paths.
    """
    out_dir = Path(out_dir)
    moons, history = pretrained.load(MOONS_FLOW)
    points = pretrained.SHIPPED[MOONS_FLOW][1].training_points()
    mnist, mnist_history = pretrained.load(MNIST_FLOW)
    return [
        export_flow(
            moons,
            out_dir / "flow_moons.js",
            name="moons",
            dtype="float16",
            extras={"points": points[:MOONS_SHOWN]},
            info={
                "model": f"RealNVP on two moons, {len(moons.couplings)} couplings of width {moons.config.hidden}, "
                f"{len(history.epochs)} epochs (weights/{MOONS_FLOW})",
                "nll": history.epochs[-1]["nll"],
            },
        ),
        export_flow(
            mnist,
            out_dir / "flow_mnist.js",
            name="mnist",
            dtype="float16",
            extras={"noise": chapter_noise(mnist.dim)},
            info={
                "model": f"RealNVP on MNIST, learned scale, {len(mnist_history.epochs)} epochs (weights/{MNIST_FLOW})",
                "noise": "gengen_lib.flows.chapter_noise(): the flow chapter's fixed noise",
            },
        ),
    ]
