"""The file format every in-page explorer's weights share (version 1 of each family's format).

A document is one JSON object with at least ``format``, ``version`` and ``name``; each family
(:mod:`.vae`, :mod:`.gan`, :mod:`.flow`) documents its own fields. Every array in it is::

    {"shape": [...], "data": BASE64}

the row-major, little-endian bytes of the array in the document's ``dtype`` (float32, or
float16 to halve the size), base64-encoded.

A browser cannot ``fetch()`` a JSON file from a ``file://`` page, so a ``.js`` path gets the
same JSON wrapped in one assignment that a ``<script>`` tag can load::

    (window.REGISTRY = window.REGISTRY || {})["NAME"] =
    {...the JSON...};

(the JSON is exactly the second of three lines); ``REGISTRY`` is the family's global
(``GENGEN_DECODERS``, ``GENGEN_GENERATORS``, ``GENGEN_FLOWS``). A ``.json`` path gets the plain JSON.
The bytes written depend only on the document, so exporting the same weights twice gives the same file.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

DTYPES = ("float32", "float16")
# Where the book's explorer pages find their weights (git-ignored: written by `python -m gengen_lib.export`).
BOOK_DIR = Path(__file__).resolve().parents[2] / "book" / "explorer"


def check_dtype(dtype: str) -> None:
    """Refuse a storage dtype the pages cannot read, in one line that names the choices."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")


def encode_array(array, dtype: str) -> dict:
    """``{"shape": [...], "data": BASE64}``: the row-major little-endian bytes of ``array`` in ``dtype``."""
    a = np.ascontiguousarray(np.asarray(array, dtype=np.dtype(dtype).newbyteorder("<")))
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def encode_tensor(tensor, dtype: str) -> dict:
    """:func:`encode_array` of a torch tensor on any device and of any float dtype, stored as ``dtype``."""
    return encode_array(tensor.detach().cpu().float().numpy(), dtype)


def decode_array(entry: dict, dtype: str) -> np.ndarray:
    """The float32 numpy array stored by :func:`encode_array`."""
    raw = base64.b64decode(entry["data"])
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(entry["shape"]).astype(np.float32)


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
