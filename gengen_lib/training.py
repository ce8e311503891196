"""One training loop for every model: epochs, progress, history, snapshots, checkpoints.

A model plugs in through three callables:

* ``step(batch) -> dict[str, float]`` does one optimisation step on a batch (using
  :func:`optimizer_step`, which refuses to apply non-finite gradients) and returns the
  numbers to log, e.g. ``{"loss": 101.3}``;
* ``evaluate() -> dict[str, float]`` (optional) returns end-of-epoch metrics, e.g. the
  validation ELBO;
* ``snapshot() -> Tensor`` (optional) returns a batch of sample images; it is called
  before training (``start``), after half of the epochs (``half``) and at the end (``end``).

At the end of every epoch :func:`fit` writes ``checkpoint.safetensors`` atomically (write
to a temporary file, then ``os.replace``): the weights, the optimizers' tensors, the RNG
states and the snapshots as tensors, and everything else (epoch, history, optimizer
hyper-parameters, the run's settings) as JSON in the file's metadata. Loading it never
unpickles anything. With ``resume=True`` a run continues from the last checkpoint and
reproduces an uninterrupted run bit for bit.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from .data import batches, num_batches

CHECKPOINT_NAME = "checkpoint.safetensors"
HISTORY_NAME = "history.json"
FORMAT = "gengen-checkpoint-1"


class NonFiniteError(FloatingPointError):
    """A loss or gradient became NaN or infinite; the step was not applied."""


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message says why and how to fix it."""


@dataclass
class History:
    """What a run measured.

    ``epochs``: one dict per finished epoch (averages of the step metrics, the evaluation
    metrics, ``seconds`` and ``images_per_s``). ``steps``: every step's metrics, as lists.
    ``snapshots``: sample images keyed by ``start`` / ``half`` / ``end``.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    snapshots: dict[str, torch.Tensor] = field(default_factory=dict)
    skipped_batches: int = 0

    def curve(self, key: str) -> list[float]:
        """The per-epoch values of one metric."""
        return [e[key] for e in self.epochs]

    @property
    def seconds(self) -> float:
        return sum(e["seconds"] for e in self.epochs)


def optimizer_step(
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    max_grad_norm: float | None = None,
) -> None:
    """Backpropagate ``loss`` and step, unless the loss or a gradient is NaN/inf.

    Raises :class:`NonFiniteError` *before* touching the parameters, so the model stays as
    it was after the last good step.
    """
    if not torch.isfinite(loss):
        raise NonFiniteError(f"the loss is {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if max_grad_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    else:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    if not torch.isfinite(norm):
        optimizer.zero_grad(set_to_none=True)
        raise NonFiniteError(f"a gradient is {norm.item()}")
    optimizer.step()


# ---------------------------------------------------------------------------------------
# Checkpoints
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


def save_checkpoint(
    directory: Path,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    generators: dict[str, torch.Generator],
    history: History,
    epoch: int,
    config: dict,
) -> Path:
    """Write ``directory/checkpoint.safetensors`` atomically; the previous one survives a crash."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_plain = {}
    for name, optimizer in optimizers.items():
        t, plain = _optimizer_tensors(name, optimizer)
        tensors.update(t)
        optim_plain[name] = plain
    tensors.update(_rng_tensors(generators))
    tensors.update({f"snapshot/{k}": v.detach().cpu().contiguous() for k, v in history.snapshots.items()})
    state = {
        "epoch": epoch,
        "config": config,
        "optimizers": optim_plain,
        "history": {"epochs": history.epochs, "steps": history.steps, "skipped_batches": history.skipped_batches},
    }
    target = directory / CHECKPOINT_NAME
    tmp = directory / f".{CHECKPOINT_NAME}.tmp"
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "state": json.dumps(state)})
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    summary = directory / f".{HISTORY_NAME}.tmp"
    summary.write_text(json.dumps({"epoch": epoch, "config": config, "epochs": history.epochs}, indent=1))
    os.replace(summary, directory / HISTORY_NAME)
    return target


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint's tensors and JSON state; :class:`CheckpointError` if unusable."""
    try:
        tensors = load_file(str(path))
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            metadata = json.loads(f.read(header_len)).get("__metadata__", {})
        if metadata.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a gengen checkpoint; fix: point --out at a gengen run directory")
        state = json.loads(metadata["state"])
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupted ({e}); fix: delete it to start over") from None
    return tensors, state


def load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    generators: dict[str, torch.Generator],
    config: dict,
) -> tuple[int, History]:
    """Restore everything :func:`save_checkpoint` wrote; returns (last epoch, history)."""
    tensors, state = read_checkpoint(path)
    try:
        return _restore(path, tensors, state, model, optimizers, generators, config)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint {path} is corrupted (a part is missing or malformed: {e!r}); fix: delete it to start over"
        ) from None


def _differences(theirs: dict, ours: dict) -> str:
    keys = sorted(set(theirs) | set(ours), key=lambda k: (k != "model", k))
    missing = "(not set)"
    return ", ".join(
        f"{k} {theirs.get(k, missing)!r} there, {ours.get(k, missing)!r} here"
        for k in keys
        if theirs.get(k, missing) != ours.get(k, missing)
    )


def _restore(path, tensors, state, model, optimizers, generators, config) -> tuple[int, History]:
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
    history = History(h["epochs"], h["steps"], snapshots, h.get("skipped_batches", 0))
    return state["epoch"], history


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------


def _check_settings(epochs: int, batch_size: int, n: int) -> None:
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if batch_size > n:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {n} training examples; fix: use a batch size of at most {n}"
        )


def _quietly(fn: Callable, model: nn.Module):
    """Call ``fn`` in eval mode without gradients and without moving the global RNG."""
    was_training = model.training
    model.eval()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        out = fn()
    model.train(was_training)
    return out


def fit(
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    step: Callable[[tuple[torch.Tensor, ...]], dict[str, float]],
    train_data: tuple[torch.Tensor, ...],
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    evaluate: Callable[[], dict[str, float]] | None = None,
    snapshot: Callable[[], torch.Tensor] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = True,
    config: dict | None = None,
    skip_nonfinite: bool = False,
    quiet: bool = False,
    drop_last: bool = False,
    generators: dict[str, torch.Generator] | None = None,
) -> History:
    """Train for ``epochs`` epochs over ``train_data`` in shuffled mini-batches.

    ``config`` (JSON-able) describes the run; a checkpoint written with other settings is
    refused rather than silently mixed in. Returns the :class:`History` of all epochs,
    including those done before a resume. If a loss or gradient turns NaN/inf, training
    stops with :class:`NonFiniteError` (the last checkpoint is kept), or with
    ``skip_nonfinite=True`` the batch is skipped and counted. ``generators`` names the
    random streams that ``step`` draws from besides torch's global one (e.g. the
    dequantization noise); they are checkpointed so that a resumed run is bit-identical.
    """
    n = len(train_data[0])
    _check_settings(epochs, batch_size, n)
    config = dict(config or {}, batch_size=batch_size, seed=seed)
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None
    data_generator = torch.Generator().manual_seed(seed)
    streams = {"data": data_generator, **(generators or {})}
    history, done = History(), 0
    if directory is not None and resume and (directory / CHECKPOINT_NAME).exists():
        done, history = load_checkpoint(directory / CHECKPOINT_NAME, model, optimizers, streams, config)
    elif directory is not None:
        _check_writable(directory)
    if done >= epochs:
        return history
    model.train()
    if snapshot is not None and "start" not in history.snapshots:
        history.snapshots["start"] = _quietly(snapshot, model)

    per_epoch = num_batches(n, batch_size, drop_last)
    bar = tqdm(total=(epochs - done) * per_epoch, disable=quiet, unit="batch", dynamic_ncols=True)
    try:
        for epoch in range(done + 1, epochs + 1):
            bar.set_description(f"epoch {epoch}/{epochs}")
            sums: dict[str, float] = {}
            counted = 0
            start = time.perf_counter()
            for i, batch in enumerate(
                batches(*train_data, batch_size=batch_size, generator=data_generator, drop_last=drop_last)
            ):
                try:
                    metrics = step(batch)
                except NonFiniteError as e:
                    if not skip_nonfinite:
                        where = f"epoch {epoch}, batch {i + 1}"
                        if directory is None:
                            kept = "no checkpoint was kept"
                        elif done == 0:
                            kept = f"no epoch had finished, so no checkpoint was written to {directory}"
                        else:
                            kept = f"the last good checkpoint (epoch {done}) is in {directory}"
                        raise NonFiniteError(
                            f"training stopped at {where}: {e}; {kept}; "
                            "fix: lower the learning rate, or skip such batches (skip_nonfinite=True, --skip-nonfinite)"
                        ) from None
                    history.skipped_batches += 1
                    bar.update(1)
                    continue
                for key, value in metrics.items():
                    sums[key] = sums.get(key, 0.0) + value
                    history.steps.setdefault(key, []).append(value)
                counted += 1
                bar.update(1)
                if i % 20 == 0:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()})
            seconds = time.perf_counter() - start
            record = {k: v / max(counted, 1) for k, v in sums.items()}
            if evaluate is not None:
                record.update(_quietly(evaluate, model))
            record.update(epoch=epoch, seconds=seconds, images_per_s=n / seconds)
            history.epochs.append(record)
            if snapshot is not None and epoch in (max(epochs // 2, 1), epochs):
                history.snapshots["half" if epoch < epochs else "end"] = _quietly(snapshot, model)
            if directory is not None:
                save_checkpoint(directory, model, optimizers, streams, history, epoch, config)
            done = epoch
    finally:
        bar.close()
    return history


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise CheckpointError(
            f"cannot write checkpoints to {directory} ({e.strerror}); fix: choose a writable --out"
        ) from None
