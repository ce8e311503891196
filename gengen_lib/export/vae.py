"""Export a VAE decoder for the book's in-page latent explorer (``book/explorer.md``).

The static book has no Python kernel, so the explorer runs the decoder itself, in JavaScript
(``book/explorer/vae-explorer.js`` on ``explorer-core.js``): Linear z_dim -> hidden, ReLU,
Linear hidden -> 784, sigmoid.
This module writes the weights it needs.

File format (version 1). One JSON object::

    {"format": "gengen-vae-decoder", "version": 1, "name": "z2", "dtype": "float32", "z_dim": 2,
     "hidden": 500, "pixels": 784,
     "layers": [{"weight": ARRAY, "bias": ARRAY}, {"weight": ARRAY, "bias": ARRAY}],
     "origin": ARRAY, "directions": ARRAY, "names": ["z1", "z2"], "limit": 3.0, "info": {...}}

with every ARRAY as in :mod:`.format` (``{"shape": [...], "data": BASE64}``, in ``dtype``:
float32, or float16 to halve the size). Layer weights have PyTorch's shape (out, in):
``h = relu(W1 z + b1)``, ``logits = W2 h + b2``. ``origin`` (z_dim,) and ``directions``
(k, z_dim) say what the k sliders do: ``z = origin + sum_i s_i directions[i]`` with each slider
value ``s_i`` in ``[-limit, limit]``. In a ``.js`` file the JSON is stored under
``window.GENGEN_DECODERS[name]``. :func:`load_decoder` reads both back into a
:class:`~gengen_lib.vae.VAE` whose decoder holds the exported weights.

:func:`export_book_decoders` writes the book's two decoders (one of the exporters of
``python -m gengen_lib.export``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import pretrained
from ..data import binarize, load_mnist
from ..vae import VAE, principal_directions
from .format import BOOK_DIR, decode_array, document, encode_array, encode_linears, read_document, write_document

FORMAT = "gengen-vae-decoder"
VERSION = 1
REGISTRY = "GENGEN_DECODERS"


def _decoder_layers(model) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    first, act, second = model.decoder
    if not (
        isinstance(first, torch.nn.Linear) and isinstance(act, torch.nn.ReLU) and isinstance(second, torch.nn.Linear)
    ):
        raise TypeError("export_decoder expects the decoder Linear -> ReLU -> Linear of gengen_lib.vae.VAE")
    return first, second


def decoder_document(
    model,
    name: str = "decoder",
    origin=None,
    directions=None,
    names: list[str] | None = None,
    limit: float = 3.0,
    dtype: str = "float32",
    info: dict | None = None,
) -> dict:
    """The JSON-able description of ``model``'s decoder (see the module docstring)."""
    first, second = _decoder_layers(model)
    z_dim, hidden = first.in_features, first.out_features
    origin = np.zeros(z_dim) if origin is None else np.asarray(torch.as_tensor(origin).detach().cpu(), np.float64)
    directions = np.eye(z_dim) if directions is None else np.asarray(torch.as_tensor(directions).detach().cpu())
    if origin.shape != (z_dim,) or directions.ndim != 2 or directions.shape[1] != z_dim:
        raise ValueError(
            f"origin must be ({z_dim},) and directions (k, {z_dim}); got {origin.shape}, {directions.shape}"
        )
    names = names or [f"z{i + 1}" for i in range(len(directions))]
    if len(names) != len(directions):
        raise ValueError(f"{len(directions)} directions but {len(names)} names")

    return document(
        FORMAT, VERSION, name, dtype, info,
        z_dim=z_dim,
        hidden=hidden,
        pixels=second.out_features,
        layers=encode_linears((first, second), dtype),
        # The slider geometry stays float32: it is small, and float16 would move the origin.
        origin=encode_array(origin, "float32"),
        directions=encode_array(directions, "float32"),
        names=list(names),
        limit=float(limit),
    )  # fmt: skip


def export_decoder(model, path: str | Path, **kwargs) -> Path:
    """Write ``model``'s decoder weights to ``path``: plain JSON for ``.json``, a script for ``.js``.

    Keyword arguments go to :func:`decoder_document` (``name``, ``origin``, ``directions``,
    ``names``, ``limit``, ``dtype``, ``info``); ``name`` defaults to the file's stem and is
    the key under ``window.GENGEN_DECODERS`` in a ``.js`` file. Returns the path.
    """
    path = Path(path)
    kwargs.setdefault("name", path.stem)
    return write_document(decoder_document(model, **kwargs), path, REGISTRY)


def document_arrays(doc: dict) -> dict[str, np.ndarray]:
    """The arrays of a document as float32 numpy arrays: w1, b1, w2, b2, origin, directions."""
    (l1, l2), dtype = doc["layers"], doc["dtype"]
    return {
        "w1": decode_array(l1["weight"], dtype),
        "b1": decode_array(l1["bias"], dtype),
        "w2": decode_array(l2["weight"], dtype),
        "b2": decode_array(l2["bias"], dtype),
        "origin": decode_array(doc["origin"], "float32"),
        "directions": decode_array(doc["directions"], "float32"),
    }


def load_decoder(path: str | Path):
    """Read an exported file back: (a :class:`~gengen_lib.vae.VAE` with those decoder weights, the document).

    Only the decoder is meaningful; the encoder keeps its random initial weights.
    """
    doc = read_document(path, FORMAT, VERSION)
    a = document_arrays(doc)
    model = VAE(doc["z_dim"], doc["hidden"])
    first, second = _decoder_layers(model)
    with torch.no_grad():
        for layer, w, b in ((first, a["w1"], a["b1"]), (second, a["w2"], a["b2"])):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    return model.eval(), doc


def slider_latent(doc: dict, values) -> torch.Tensor:
    """The latent code the page decodes for slider values ``values`` (k,): origin + values @ directions."""
    a = document_arrays(doc)
    return torch.from_numpy(a["origin"]) + torch.as_tensor(values, dtype=torch.float32) @ torch.from_numpy(
        a["directions"]
    )


def export_book_decoders(out_dir: str | Path = BOOK_DIR, dtype: str = "float16") -> list[Path]:
    """Write the book explorer's two decoders, ``decoder_z2.js`` and ``decoder_z20.js``, to ``out_dir``.

    Uses the shipped VAEs (``weights/vae-z2``, ``weights/vae-z20``), so the explorer draws
    exactly what the chapter's notebook computes. The 2-d model gets one slider per
    coordinate; the 20-d one five sliders along the leading principal directions of the test
    set's posterior means. float16 storage is exact: the shipped weights are float16 already.
    Returns the two paths.
    """
    out_dir = Path(out_dir)
    model_2, history_2 = pretrained.load("vae-z2")
    model_20, history_20 = pretrained.load("vae-z20")
    test_x = binarize(load_mnist("test").images)
    origin, directions, info = principal_directions(model_20, test_x, k=5)
    epochs = {"z2": len(history_2.epochs), "z20": len(history_20.epochs)}
    paths = [
        export_decoder(
            model_2,
            out_dir / "decoder_z2.js",
            name="z2",
            dtype=dtype,
            info={"model": f"VAE z_dim=2, {epochs['z2']} epochs (weights/vae-z2)", "sliders": "latent coordinates"},
        ),
        export_decoder(
            model_20,
            out_dir / "decoder_z20.js",
            name="z20",
            origin=origin,
            directions=directions,
            names=[f"PC {i + 1}" for i in range(len(directions))],
            dtype=dtype,
            info={
                "model": f"VAE z_dim=20, {epochs['z20']} epochs (weights/vae-z20)",
                "sliders": "leading principal directions of the test set's posterior means, "
                "scaled by the codes' standard deviation",
                **info,
            },
        ),
    ]
    return paths
