"""Checkpoints of a training run: one safetensors file, written atomically, verified on load.

``checkpoint.safetensors`` holds the weights, the optimizers' tensors, every random stream
the run consumes and the sample snapshots as tensors; everything else (epoch, history,
optimizer hyper-parameters, the run's settings) is JSON in the file's metadata, together
with a sha256 digest of all tensor bytes *and* of that JSON. Loading never unpickles
anything, checks the digest, validates the JSON against the expected schema and everything
that will be restored against the model and optimizers it goes into (names, shapes, dtypes,
finite values, the optimizers' hyper-parameters) *before* anything is restored: a damaged
file is refused in one line, ``checkpoint ... is corrupted (what, where); fix: ...``. Older
formats, whose digest left the JSON out (or which had none), are refused too, since a
downgraded format would otherwise switch the check off.

Writing is safe against crashes, full disks and planted files: the bytes go to a temporary
file created exclusively (never through a symlink), are flushed, then renamed over the old
checkpoint; ``history.json``, a readable summary, is derived from the checkpoint and
rewritten from it whenever it lags behind. A run folder is locked while a process trains
in it (:class:`RunLock`); loading a finished run needs no lock.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

CHECKPOINT_NAME = "checkpoint.safetensors"
HISTORY_NAME = "history.json"
LOCK_NAME = ".lock"
FORMAT = "gengen-checkpoint-3"  # 3: the sha256 digest covers the tensors and the JSON state
OLD_FORMATS = ("gengen-checkpoint-1", "gengen-checkpoint-2")  # no digest / a digest of the tensors only: refused
TEMPORARY_PREFIX = ".tmp-"
MAX_CHECKPOINT_BYTES = 4 << 30
DELETE_FIX = "fix: delete it to start that run over"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used or written; the message says why and how to fix it."""


def corrupted(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is corrupted ({what}); {DELETE_FIX}")


# ---------------------------------------------------------------------------------------
# Safe files
# ---------------------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: an exclusive temporary file beside it, fsync, rename.

    The temporary file, ``.tmp-<pid>-<random>-<name>``, is created with O_EXCL | O_NOFOLLOW,
    so a file or symlink planted under its name is never followed or overwritten. On any error the temporary file is
    removed and the old ``path`` is untouched.
    """
    tmp = path.with_name(f"{TEMPORARY_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{path.name}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _writer_alive(temporary: Path) -> bool:
    """Whether the process named in ``.tmp-<pid>-<name>`` still runs (then the file is its, in use)."""
    pid = temporary.name.removeprefix(TEMPORARY_PREFIX).partition("-")[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete temporary files that *dead* writers left in ``directory`` (call it holding the lock).

    A temporary file of a live process (a loader rewriting ``history.json``, another
    process's write probe) is that process's business and is left alone.
    """
    stale = [p for p in directory.glob(f"{TEMPORARY_PREFIX}*") if (p.is_file() or p.is_symlink())
             and not _writer_alive(p)]  # fmt: skip
    stale += [p for p in directory.glob(f".{CHECKPOINT_NAME}.tmp*")]  # the old writer's name
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


class RunLock:
    """An exclusive lock on a run folder while a process trains in it (``fcntl.flock``).

    A second process asking for the same folder gets a :class:`CheckpointError` naming the
    holder's pid. The lock goes away with the process, however it ends.
    """

    def __init__(self, directory: Path):
        self.path = Path(directory) / LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        import fcntl

        flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        try:
            self.fd = os.open(self.path, flags, 0o644)
        except OSError as e:
            raise CheckpointError(
                f"cannot lock the run folder {self.path.parent} ({e.strerror}); fix: choose a writable --out"
            ) from None
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):
            os.close(self.fd)
            self.fd = None
            raise CheckpointError(f"the lock file {self.path} is not a regular file; fix: delete it")
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            self.fd = None
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise CheckpointError(
                f"the run folder {self.path.parent} is in use by another training process (pid {holder}); "
                "fix: wait for it to finish, or choose another --out"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def tensor_digest(tensors: dict[str, torch.Tensor], state_text: str = "") -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order, then the JSON state's text."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    digest.update(b"state|" + state_text.encode())
    return digest.hexdigest()


def write_checkpoint(directory: Path, tensors: dict[str, torch.Tensor], state: dict) -> Path:
    """Write ``directory/checkpoint.safetensors`` and its ``history.json`` summary.

    Any failure (a full disk, a read-only folder) is a one-line :class:`CheckpointError`;
    the previous checkpoint survives it.
    """
    target = directory / CHECKPOINT_NAME
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    state_text = json.dumps(state)
    metadata = {"format": FORMAT, "state": state_text, "digest": tensor_digest(tensors, state_text)}
    try:
        write_atomically(target, save(tensors, metadata=metadata))
    except (OSError, SafetensorError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise CheckpointError(
            f"cannot write the checkpoint of epoch {state.get('epoch')} to {directory} ({reason}); "
            "the previous checkpoint is kept; fix: free disk space or choose a writable --out, "
            "then run the same command again"
        ) from None
    write_history(directory, state)
    return target


def write_history(directory: Path, state: dict) -> None:
    """``history.json``: the epoch, the settings and the per-epoch metrics, for people to read."""
    summary = {"epoch": state["epoch"], "config": state["config"], "epochs": state["history"]["epochs"]}
    try:
        write_atomically(directory / HISTORY_NAME, json.dumps(summary, indent=1).encode())
    except OSError:
        pass  # derived data: the next start rewrites it from the checkpoint


def sync_history(directory: Path, state: dict) -> None:
    """Rewrite ``history.json`` from the checkpoint's state if it is missing or lags behind."""
    path = directory / HISTORY_NAME
    try:
        current = json.loads(path.read_text()) if path.is_file() and not path.is_symlink() else {}
    except (OSError, ValueError):
        current = {}
    if current.get("epoch") != state["epoch"]:
        write_history(directory, state)


# ---------------------------------------------------------------------------------------
# Reading and validating
# ---------------------------------------------------------------------------------------


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and verify a checkpoint: (tensors, validated JSON state); :class:`CheckpointError` if unusable."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(f"there is no checkpoint {path}; fix: train that run first") from None
    except OSError as e:
        raise corrupted(path, e.strerror) from None
    if not stat.S_ISREG(info.st_mode):
        raise corrupted(path, "not a regular file")
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise corrupted(path, f"{info.st_size:,} bytes, more than any gengen checkpoint")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        header_len = int.from_bytes(raw[:8], "little")
        metadata = json.loads(raw[8 : 8 + header_len]).get("__metadata__") or {}
        if metadata.get("format") in OLD_FORMATS:
            raise CheckpointError(
                f"checkpoint {path} is in the old format {metadata['format']}, whose digest does not cover all "
                f"of it, so it cannot be verified; {DELETE_FIX}"
            )
        if metadata.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a gengen checkpoint; fix: point --out at a gengen run directory")
        tensors = load(raw)
        state_text = metadata["state"]
        digest_ok = metadata.get("digest") == tensor_digest(tensors, state_text)
        state = json.loads(state_text) if digest_ok else None
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise corrupted(path, _short(e)) from None
    if not digest_ok:
        raise corrupted(path, "its tensors or state do not match their sha256 digest")
    validate_state(path, state)
    return tensors, state


def saved_epoch(directory: Path) -> int | None:
    """The epoch of the checkpoint in ``directory`` from its header alone, or None if there is none readable."""
    path = Path(directory) / CHECKPOINT_NAME
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # opening a FIFO would wait for a writer forever
            return None
        with open(path, "rb") as f:
            header = json.loads(f.read(min(int.from_bytes(f.read(8), "little"), MAX_CHECKPOINT_BYTES)))
        epoch = json.loads(header["__metadata__"]["state"])["epoch"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_state(path: Path, state) -> None:
    """Check the JSON state's shape and types before anything is restored."""

    def need(condition: bool, what: str) -> None:
        if not condition:
            raise corrupted(path, what)

    need(isinstance(state, dict), "the state is not a JSON object")
    for key in ("epoch", "config", "optimizers", "history"):
        need(key in state, f"'{key}' is missing")
    epoch = state["epoch"]
    need(isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1, f"epoch is {epoch!r}")
    need(isinstance(state["config"], dict), "config is not an object")
    history = state["history"]
    need(isinstance(history, dict), "history is not an object")
    epochs = history.get("epochs")
    need(isinstance(epochs, list) and len(epochs) == epoch, "history.epochs does not list one record per epoch")
    for i, record in enumerate(epochs):
        need(isinstance(record, dict), f"history.epochs[{i}] is not an object")
        need(record.get("epoch", i + 1) == i + 1, f"history.epochs[{i}] is the record of epoch {record.get('epoch')!r}")
        for key, value in record.items():
            need(_number(value) or isinstance(value, list), f"history.epochs[{i}].{key} is {value!r}")
    steps = history.get("steps")
    need(isinstance(steps, dict), "history.steps is not an object")
    for key, values in steps.items():
        need(isinstance(values, list) and all(_number(v) for v in values), f"history.steps.{key} is not numbers")
    skipped = history.get("skipped_batches", 0)
    need(isinstance(skipped, int) and not isinstance(skipped, bool) and skipped >= 0, "skipped_batches is invalid")
    optimizers = state["optimizers"]
    need(isinstance(optimizers, dict), "optimizers is not an object")
    for name, opt in optimizers.items():
        need(isinstance(opt, dict) and isinstance(opt.get("state"), dict), f"optimizer {name} has no state")
        groups = opt.get("param_groups")
        need(isinstance(groups, list) and all(isinstance(g, dict) for g in groups), f"optimizer {name} groups")
        for g in groups:
            for key in ("lr", "eps", "weight_decay"):
                if key in g:
                    need(_number(g[key]) and math.isfinite(g[key]) and g[key] >= 0,
                         f"optimizer {name} {key} is {g[key]!r}")  # fmt: skip
            if "betas" in g:
                betas = g["betas"]
                need(isinstance(betas, list) and len(betas) == 2 and all(_number(b) and 0 <= b < 1 for b in betas),
                     f"optimizer {name} betas is {betas!r}")  # fmt: skip
            for key in ("amsgrad", "maximize"):
                if key in g:
                    need(isinstance(g[key], bool), f"optimizer {name} {key} is {g[key]!r}")
            params = g.get("params")
            need(isinstance(params, list) and all(isinstance(p, int) and not isinstance(p, bool) for p in params),
                 f"optimizer {name} has no parameter list")  # fmt: skip


# Adam's per-parameter state: the step count and the two moments (a third with amsgrad).
ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")


def check_restorable(
    path: Path,
    tensors: dict[str, torch.Tensor],
    state: dict,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    generators: dict[str, torch.Generator],
) -> None:
    """Refuse, in one line, anything that would restore a model or optimizer other than the one
    training left: weights of another dtype, optimizer hyper-parameters other than the run's
    (gradient ascent, betas, a learning rate), moments of the wrong shape, NaN or a negative
    second moment, a missing random stream, non-finite snapshots.

    ``model``, ``optimizers`` and ``generators`` are the freshly built ones the checkpoint
    goes into; their hyper-parameters come from the run's settings.
    """

    def need(condition: bool, what: str) -> None:
        if not condition:
            raise corrupted(path, what)

    expected = model.state_dict()
    for key, value in tensors.items():
        name = key.removeprefix("model/")
        if key.startswith("model/") and name in expected:
            need(value.dtype == expected[name].dtype, f"the weight {name} is stored as {value.dtype}, "
                 f"the model's is {expected[name].dtype}")  # fmt: skip
    need(set(state["optimizers"]) == set(optimizers),
         f"it has the optimizers {sorted(state['optimizers'])}, this run has {sorted(optimizers)}")  # fmt: skip
    for name, optimizer in optimizers.items():
        _check_optimizer(need, name, state["optimizers"][name], tensors, optimizer)
    for name in ("torch", *generators):
        rng = tensors.get(f"rng/{name}")
        need(rng is not None and rng.dtype == torch.uint8 and rng.shape == torch.get_rng_state().shape,
             f"the random stream {name} is missing or malformed")  # fmt: skip
    for key, value in tensors.items():
        if key.startswith("snapshot/"):
            need(value.is_floating_point() and bool(torch.isfinite(value).all()), f"the {key} holds NaN or inf")


def _plain(value):
    """A hyper-parameter as JSON stores it (tuples become lists)."""
    return json.loads(json.dumps(value))


def _check_optimizer(need, name: str, saved: dict, tensors: dict, optimizer: torch.optim.Optimizer) -> None:
    fresh_groups = optimizer.state_dict()["param_groups"]
    groups = saved["param_groups"]
    need(len(groups) == len(fresh_groups), f"optimizer {name} has {len(groups)} parameter groups")
    shapes = {}
    for group, fresh, params in zip(groups, fresh_groups, optimizer.param_groups, strict=True):
        for key, value in fresh.items():
            if key != "params" and key in group:  # a key an older torch did not write takes its default
                need(_plain(group.get(key)) == _plain(value),
                     f"optimizer {name} {key} is {group.get(key)!r} where this run's settings give {_plain(value)!r}")
        need(group["params"] == fresh["params"], f"optimizer {name} has parameter ids {group['params']} "
             f"where this run has {fresh['params']}")  # fmt: skip
        shapes.update({pid: (p.shape, p.dtype) for pid, p in zip(fresh["params"], params["params"], strict=True)})
    adam = isinstance(optimizer, torch.optim.Adam)
    amsgrad = any(g.get("amsgrad") for g in fresh_groups)
    for pid, plain in saved["state"].items():
        need(pid.isdigit() and int(pid) in shapes, f"optimizer {name} has state for an unknown parameter {pid}")
        shape, dtype = shapes[int(pid)]
        prefix = f"optim/{name}/{pid}/"
        parts = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
        need(all(_number(v) for v in plain.values()), f"optimizer {name} parameter {pid} has a malformed value")
        if adam:
            wanted = {*ADAM_STATE, *(("max_exp_avg_sq",) if amsgrad else ())}
            need(set(parts) == wanted, f"optimizer {name} parameter {pid} has {sorted(parts)}, not {sorted(wanted)}")
        for key, value in parts.items():
            where = f"optimizer {name} parameter {pid} {key}"
            need(value.is_floating_point() and bool(torch.isfinite(value).all()), f"{where} holds NaN or inf")
            if key == "step":
                need(value.numel() == 1 and value.item() >= 0 and value.item() == int(value.item()),
                     f"{where} is {value.item()!r}")  # fmt: skip
                continue
            need(value.shape == shape and value.dtype == dtype,
                 f"{where} has shape {tuple(value.shape)} {value.dtype}, the parameter {tuple(shape)} {dtype}")
            if key.endswith("_sq"):
                need(bool((value >= 0).all()), f"{where} is negative")


def check_finite_weights(path: Path, model: nn.Module) -> None:
    """Non-finite weights in a checkpoint are corruption (training never saves them)."""
    for name, value in model.state_dict().items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise corrupted(path, f"the weight {name} holds NaN or inf")


# ---------------------------------------------------------------------------------------
# A training run's state <-> a checkpoint
# ---------------------------------------------------------------------------------------


def _optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Split an optimizer's state dict into tensors (for safetensors) and plain JSON."""
    sd = optimizer.state_dict()
    tensors, plain_state = {}, {}
    for pid, state in sd["state"].items():
        plain_state[str(pid)] = {}
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim/{name}/{pid}/{key}"] = value.detach().cpu().contiguous()
            else:
                plain_state[str(pid)][key] = value
    return tensors, {"state": plain_state, "param_groups": sd["param_groups"]}


def _rng_tensors(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    """Every random stream training consumes: torch's global one and each named generator."""
    rng = {"rng/torch": torch.get_rng_state()}
    rng.update({f"rng/{name}": g.get_state() for name, g in generators.items()})
    if torch.cuda.is_available():
        rng["rng/cuda"] = torch.cuda.get_rng_state()
    return rng


@dataclass
class TrainingParts:
    """Everything a checkpoint restores besides the history: weights, optimizers, random streams."""

    model: nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    generators: dict[str, torch.Generator]


def save_checkpoint(directory: Path, parts: TrainingParts, history, epoch: int, config: dict) -> Path:
    """Write ``directory/checkpoint.safetensors`` atomically; the previous one survives a crash.

    ``history`` is a :class:`~gengen_lib.training.History` (epochs, steps, snapshots, skipped batches).
    """
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model/{k}": v for k, v in parts.model.state_dict().items()}
    optim_plain = {}
    for name, optimizer in parts.optimizers.items():
        t, plain = _optimizer_tensors(name, optimizer)
        tensors.update(t)
        optim_plain[name] = plain
    tensors.update(_rng_tensors(parts.generators))
    tensors.update({f"snapshot/{k}": v for k, v in history.snapshots.items()})
    state = {
        "epoch": epoch,
        "config": config,
        "optimizers": optim_plain,
        "history": {"epochs": history.epochs, "steps": history.steps, "skipped_batches": history.skipped_batches},
    }
    return write_checkpoint(directory, tensors, state)


def load_checkpoint(path: Path, parts: TrainingParts, config: dict) -> tuple[int, dict]:
    """Restore everything :func:`save_checkpoint` wrote into ``parts``; returns (last epoch, the history's
    fields: ``epochs``, ``steps``, ``snapshots``, ``skipped_batches``).

    ``history.json`` beside it is rewritten from the checkpoint if it lags behind.
    """
    tensors, state = read_checkpoint(path)
    try:
        restored = _restore(path, tensors, state, parts, config)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(
            f"checkpoint {path} is corrupted (a part is missing or malformed: {e!r}"[:300]
            + "); fix: delete it to start that run over"
        ) from None
    sync_history(path.parent, state)
    return restored


def _differences(theirs: dict, ours: dict) -> str:
    keys = sorted(set(theirs) | set(ours), key=lambda k: (k != "model", k))
    missing = "(not set)"
    return ", ".join(
        f"{k} {theirs.get(k, missing)!r} there, {ours.get(k, missing)!r} here"
        for k in keys
        if theirs.get(k, missing) != ours.get(k, missing)
    )


def _restore(path, tensors, state, parts: TrainingParts, config) -> tuple[int, dict]:
    model, optimizers, generators = parts.model, parts.optimizers, parts.generators
    if state["config"] != config:
        raise CheckpointError(
            f"checkpoint {path} was written for settings that differ from this run's "
            f"({_differences(state['config'], config)}); "
            "fix: choose another output directory or delete the old run"
        )
    weights = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(
            f"checkpoint {path} does not fit this model ({first[-1].strip()}), probably written by another version "
            "of the code; fix: choose another output directory or delete the old run"
        ) from None
    check_restorable(path, tensors, state, model, optimizers, generators)
    check_finite_weights(path, model)
    for name, optimizer in optimizers.items():
        plain = state["optimizers"][name]
        opt_state = {}
        for pid, values in plain["state"].items():
            values = dict(values)
            prefix = f"optim/{name}/{pid}/"
            values.update({k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)})
            opt_state[int(pid)] = values
        optimizer.load_state_dict({"state": opt_state, "param_groups": plain["param_groups"]})
    torch.set_rng_state(tensors["rng/torch"])
    for name, generator in generators.items():
        generator.set_state(tensors[f"rng/{name}"])
    if "rng/cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng/cuda"])
    h = state["history"]
    snapshots = {k.removeprefix("snapshot/"): v for k, v in tensors.items() if k.startswith("snapshot/")}
    history = {"epochs": h["epochs"], "steps": h["steps"], "snapshots": snapshots,
               "skipped_batches": h.get("skipped_batches", 0)}  # fmt: skip
    return state["epoch"], history
