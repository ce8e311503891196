"""The file format every in-page explorer's weights share (version 1 of each family's format).

A document is one JSON object that starts with ``format``, ``version``, ``name`` and ``dtype``
and ends with ``info`` (:func:`document`); each family (:mod:`.vae`, :mod:`.gan`, :mod:`.flow`,
:mod:`.flow_matching`) documents the fields in between. Every array in it is::

    {"shape": [...], "data": BASE64}

the row-major, little-endian bytes of the array in the document's ``dtype`` (float32, or
float16 to halve the size), base64-encoded. A dense layer is ``{"weight": ARRAY (out, in),
"bias": ARRAY (out,)}`` (:func:`encode_layer`); ``extras``, where a family has them, are named
float32 arrays the page shows besides the model (:func:`encode_extras`).

A browser cannot ``fetch()`` a JSON file from a ``file://`` page, so a ``.js`` path gets the
same JSON wrapped in one assignment that a ``<script>`` tag can load::

    (window.REGISTRY = window.REGISTRY || {})["NAME"] =
    {...the JSON...};

(the JSON is exactly the second of three lines); ``REGISTRY`` is the family's global
(``GENGEN_DECODERS``, ``GENGEN_GENERATORS``, ``GENGEN_FLOWS``, ``GENGEN_FLOW_MATCHING``). A ``.json``
path gets the plain JSON.
The bytes written depend only on the document, so exporting the same weights twice gives the same file.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import torch

DTYPES = ("float32", "float16")  # a document's weights
ARRAY_DTYPES = (*DTYPES, "uint8")  # any array a page decodes (uint8: precomputed images)
# Where the book's explorer pages find their weights (git-ignored: written by `python -m gengen_lib.export`).
BOOK_DIR = Path(__file__).resolve().parents[2] / "book" / "explorer"


def check_dtype(dtype: str, dtypes: tuple[str, ...] = DTYPES) -> None:
    """Refuse a storage dtype the pages cannot read, in one line that names the choices."""
    if dtype not in dtypes:
        raise ValueError(f"dtype must be one of {dtypes}, got {dtype!r}")


def encode_array(array, dtype: str) -> dict:
    """``{"shape": [...], "data": BASE64}``: the row-major little-endian bytes of ``array`` in ``dtype``."""
    check_dtype(dtype, ARRAY_DTYPES)
    a = np.ascontiguousarray(np.asarray(array, dtype=np.dtype(dtype).newbyteorder("<")))
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def encode_tensor(tensor, dtype: str) -> dict:
    """:func:`encode_array` of a torch tensor on any device and of any float dtype, stored as ``dtype``
    (a float64 tensor is rounded once, straight to ``dtype``; other floats go through float32)."""
    return encode_array(_numpy(tensor), dtype)


def decode_array(entry: dict, dtype: str) -> np.ndarray:
    """The float32 numpy array stored by :func:`encode_array`."""
    raw = base64.b64decode(entry["data"])
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(entry["shape"]).astype(np.float32)


def decode_tensor(entry: dict, dtype: str) -> torch.Tensor:
    """:func:`decode_array` as a float32 tensor."""
    return torch.from_numpy(decode_array(entry, dtype))


def document(
    format: str, version: int, name: str, dtype: str, info: dict | None = None, *, dtypes=DTYPES, **fields
) -> dict:
    """A document: its header (``format``, ``version``, ``name``, storage ``dtype``), the family's
    ``fields`` in the order given, then ``info`` (free-form provenance for the page). Refuses a
    ``dtype`` outside ``dtypes`` (by default the weights' float32 and float16)."""
    check_dtype(dtype, dtypes)
    return {"format": format, "version": version, "name": name, "dtype": dtype, **fields, "info": info or {}}


def encode_layer(weight, bias, dtype: str) -> dict:
    """A dense layer ``{"weight": ARRAY (out, in), "bias": ARRAY (out,)}``, from tensors or arrays."""
    return {"weight": encode_array(_numpy(weight), dtype), "bias": encode_array(_numpy(bias), dtype)}


def encode_linears(linears, dtype: str) -> list[dict]:
    """:func:`encode_layer` of each ``nn.Linear`` in ``linears``, in order."""
    return [encode_layer(linear.weight, linear.bias, dtype) for linear in linears]


@torch.no_grad()
def load_linears(linears, layers: list[dict], dtype: str) -> None:
    """Copy the stored ``layers`` into the ``nn.Linear`` modules ``linears``, one each, in order."""
    for linear, layer in zip(linears, layers, strict=True):
        linear.weight.copy_(decode_tensor(layer["weight"], dtype))
        linear.bias.copy_(decode_tensor(layer["bias"], dtype))


def encode_extras(extras: dict | None) -> dict:
    """The named arrays (tensors or numpy) of ``extras``, each stored float32 whatever the document's dtype."""
    return {key: encode_array(_numpy(value), "float32") for key, value in (extras or {}).items()}


def extra_array(doc: dict, key: str) -> torch.Tensor:
    """One of a document's float32 ``extras`` as a tensor."""
    return decode_tensor(doc["extras"][key], "float32")


def _numpy(array) -> np.ndarray:
    """A numpy copy of a tensor (any device; float64 kept, other floats as float32) or of an array."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu()
        return (array if array.dtype == torch.float64 else array.float()).numpy()
    return np.asarray(array)


def write_document(doc: dict, path: str | Path, registry: str) -> Path:
    """Write ``doc`` to ``path``: plain JSON for ``.json``; for ``.js`` a script that stores it as
    ``window[registry][doc["name"]]`` (three lines, the JSON alone on the second). Returns the path."""
    path = Path(path)
    if path.suffix not in (".json", ".js"):
        raise ValueError(f"explorer weights are written as .json or .js files, not {path.name}")
    text = json.dumps(doc, separators=(",", ":"))
    if path.suffix == ".js":
        prefix = f"(window.{registry} = window.{registry} || {{}})[{json.dumps(doc['name'])}] ="
        text = "\n".join([prefix, text, ";"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def read_document(path: str | Path, format: str, version: int) -> dict:
    """The JSON object stored by :func:`write_document`; it must be of ``format`` and ``version``."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix == ".js":
        lines = text.split("\n")
        if len(lines) < 3 or not lines[0].startswith("(window."):
            raise ValueError(f"{path} is not an explorer script written by gengen_lib.export")
        text = lines[1]
    doc = json.loads(text)
    if doc.get("format") != format or doc.get("version") != version:
        raise ValueError(f"{path}: not a {format} file of version {version}")
    return doc
