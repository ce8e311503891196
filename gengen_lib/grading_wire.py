"""What the grader and a submission's process say to each other: framed JSON and safetensors, never pickle.

A frame is an 8-byte length and a JSON header, then an 8-byte length and a safetensors blob
(the tensors the header refers to by key). Values travel as JSON trees:

* ``{"tensor": key}``, ``{"value": number | bool | None | str}``, ``{"tuple": [...]}`` / ``{"list": [...]}``;
* grader to submission only: ``{"function": "gengen_lib.module:name"}`` (a library function),
  ``{"object": "gengen_lib.module:Class", "attrs": {...}}`` (a plain object of tensors, such
  as a flow exercise's conditioner network), ``{"vae": ...}`` and ``{"adam": ...}`` (a model and
  its optimiser, sent whole and read back after the call: see :func:`encode`);
* submission to grader only: ``{"opaque": "dict"}``, the type name of a value that cannot travel.

Decoding never runs code from the other side: JSON, tensors and (on the submission's side only)
imports of names under ``gengen_lib``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import struct

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

MAX_HEADER = 4 << 20  # bytes of JSON in one frame
MAX_BLOB = 1 << 30  # bytes of tensors in one frame
MAX_DEPTH, MAX_ITEMS = 6, 256  # nesting and length of the trees a submission may return


class WireError(Exception):
    """A frame or a value that does not follow the protocol."""


def pack(header: dict, tensors: dict[str, torch.Tensor] | None = None) -> bytes:
    """One frame: the JSON header and the tensors it refers to."""
    text = json.dumps(header).encode()
    blob = save_tensors({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}) if tensors else b""
    return struct.pack(">Q", len(text)) + text + struct.pack(">Q", len(blob)) + blob


def unpack(text: bytes, blob: bytes) -> tuple[dict, dict[str, torch.Tensor]]:
    """A frame's header and tensors, checked to be a JSON object and safetensors."""
    try:
        header = json.loads(text)
        tensors = load_tensors(blob) if blob else {}
    except Exception as error:
        raise WireError(f"an unreadable answer ({type(error).__name__})") from None
    if not isinstance(header, dict):
        raise WireError("an answer that is not a JSON object")
    return header, tensors


class Encoder:
    """Turns values into JSON trees, collecting their tensors under fresh keys."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def tensor(self, t: torch.Tensor) -> dict:
        key = f"t{len(self.tensors)}"
        self.tensors[key] = t
        return {"tensor": key}

    def encode(self, value, depth: int = 0):
        """A value as a JSON tree; unknown kinds become ``{"opaque": type name}``."""
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if value is None or isinstance(value, bool | int | str):
            return {"value": value if not isinstance(value, str) else value[:200]}
        if isinstance(value, float):
            return {"value": value} if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, tuple | list) and depth < MAX_DEPTH and len(value) <= MAX_ITEMS:
            return {type(value).__name__ if type(value) in (tuple, list) else "tuple":
                    [self.encode(v, depth + 1) for v in value]}  # fmt: skip
        if type(value).__module__ == "numpy":
            try:
                return self.tensor(torch.as_tensor(value))
            except Exception:
                pass
        return {"opaque": type(value).__name__[:60]}


def decode(tree, tensors: dict[str, torch.Tensor], depth: int = 0):
    """The value of a JSON tree whose tensors are in ``tensors`` (the kinds both sides share)."""
    if not isinstance(tree, dict) or len(tree) != 1 or depth > MAX_DEPTH + 1:
        raise WireError("a malformed value")
    (kind, content), = tree.items()
    if kind == "tensor":
        if content not in tensors:
            raise WireError("a value that refers to a missing tensor")
        return tensors[content]
    if kind == "value" and (content is None or isinstance(content, bool | int | float | str)):
        return content
    if kind == "float" and content in ("nan", "inf", "-inf"):
        return float(content)
    if kind in ("tuple", "list") and isinstance(content, list) and len(content) <= MAX_ITEMS:
        items = [decode(v, tensors, depth + 1) for v in content]
        return tuple(items) if kind == "tuple" else items
    if kind == "opaque" and isinstance(content, str):
        return opaque(content)
    raise WireError(f"a value of unknown kind {kind[:30]!r}")


def tensor_keys(tree) -> list[str]:
    """The tensor keys a JSON tree refers to, in order (each once)."""
    if isinstance(tree, dict) and "tensor" in tree:
        return [tree["tensor"]]
    children = next(iter(tree.values()), None) if isinstance(tree, dict) else None
    keys = [k for child in children for k in tensor_keys(child)] if isinstance(children, list) else []
    return list(dict.fromkeys(keys))


def opaque(type_name: str):
    """A stand-in for a value that could not travel: an instance of an empty class of the same name."""
    name = type_name if type_name.isidentifier() else "object"
    return type(name, (), {"__repr__": lambda self: f"<a {name}>"})()


def library_name(value) -> str | None:
    """'gengen_lib.module:qualname' for a module-level function of the library, else None."""
    module, qualname = getattr(value, "__module__", ""), getattr(value, "__qualname__", "")
    if inspect.isfunction(value) and module.startswith("gengen_lib.") and "<" not in qualname and "." not in qualname:
        return f"{module}:{qualname}"
    return None


def resolve(name: str):
    """The library attribute named 'gengen_lib.module:qualname' (imports only under gengen_lib)."""
    module, _, qualname = name.partition(":")
    if not module.startswith("gengen_lib.") or not qualname.isidentifier():
        raise WireError(f"refusing to import {name[:80]!r}")
    return getattr(importlib.import_module(module), qualname)
