"""One training loop for every model: epochs, progress, history, snapshots, checkpoints.

A model plugs in through three callables:

* ``step(batch) -> dict[str, float]`` does one optimisation step on a batch (using
  :func:`optimizer_step`, which refuses to apply non-finite gradients) and returns the
  numbers to log, e.g. ``{"loss": 101.3}``;
* ``evaluate() -> dict[str, float]`` (optional) returns end-of-epoch metrics, e.g. the
  validation ELBO;
* ``snapshot() -> Tensor`` (optional) returns a batch of sample images; it is called
  before training (``start``), after half of the epochs (``half``) and at the end (``end``).

At the end of every epoch :func:`fit` writes ``checkpoint.safetensors`` (see
:mod:`gengen_lib.checkpoints`: atomic, digest-checked, schema-validated on load, never
unpickled): the weights, the optimizers' tensors, every random stream and the snapshots,
with the epoch, history, optimizer hyper-parameters and the run's settings as JSON. With
``resume=True`` a run continues from the last checkpoint and reproduces an uninterrupted
run bit for bit. The run folder is locked while a process trains in it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import (
    CHECKPOINT_NAME,
    CheckpointError,
    RunLock,
    TrainingParts,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
    saved_epoch,
    write_atomically,
)
from .data import batches, num_batches
from .runs import run_dir, run_identity


class NonFiniteError(FloatingPointError):
    """A loss or gradient became NaN or infinite; the step was not applied."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says what was saved."""


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
    With ``checkpoint_dir`` the folder is locked for the whole run (:class:`RunLock`); a
    finished run is loaded without the lock and without writing, so many processes (a class
    sharing ``GENGEN_RUNS``, parallel notebooks) may load it at once, even from a read-only folder.
    """
    n = len(train_data[0])
    _check_settings(epochs, batch_size, n)
    config = dict(config or {}, batch_size=batch_size, seed=seed)
    loop = _Loop(model, optimizers, step, train_data, epochs, batch_size, seed, evaluate, snapshot, config,
                 skip_nonfinite, quiet, drop_last, generators or {})  # fmt: skip
    if checkpoint_dir is None:
        return loop.run(None, resume=False)
    directory = Path(checkpoint_dir)
    if resume and saved_epoch(directory) is not None and saved_epoch(directory) >= epochs:
        return loop.run(directory, resume=True)  # finished: read-only, no lock needed
    _check_writable(directory)
    with RunLock(directory):
        remove_stale_temporaries(directory)
        return loop.run(directory, resume)


@dataclass
class _Loop:
    """The state of one call of :func:`fit`: what to train, and how."""

    model: nn.Module
    optimizers: dict
    step: Callable
    train_data: tuple
    epochs: int
    batch_size: int
    seed: int
    evaluate: Callable | None
    snapshot: Callable | None
    config: dict
    skip_nonfinite: bool
    quiet: bool
    drop_last: bool
    generators: dict

    def run(self, directory: Path | None, resume: bool) -> History:
        self.data_generator = torch.Generator().manual_seed(self.seed)
        self.parts = TrainingParts(self.model, self.optimizers, {"data": self.data_generator, **self.generators})
        history, done = History(), 0
        checkpoint = directory / CHECKPOINT_NAME if directory is not None else None
        if checkpoint is not None and resume and (checkpoint.exists() or checkpoint.is_symlink()):
            done, fields = load_checkpoint(checkpoint, self.parts, self.config)
            history = History(**fields)
        if done >= self.epochs:
            return history
        self.model.train()
        if self.snapshot is not None and "start" not in history.snapshots:
            history.snapshots["start"] = _quietly(self.snapshot, self.model)
        n = len(self.train_data[0])
        bar = tqdm(total=(self.epochs - done) * num_batches(n, self.batch_size, self.drop_last),
                   disable=self.quiet, unit="batch", dynamic_ncols=True)  # fmt: skip
        try:
            for epoch in range(done + 1, self.epochs + 1):
                bar.set_description(f"epoch {epoch}/{self.epochs}")
                history.epochs.append(self.one_epoch(epoch, history, bar, directory, done))
                if self.snapshot is not None and epoch in (max(self.epochs // 2, 1), self.epochs):
                    history.snapshots["half" if epoch < self.epochs else "end"] = _quietly(self.snapshot, self.model)
                if directory is not None:
                    save_checkpoint(directory, self.parts, history, epoch, self.config)
                done = epoch
        except KeyboardInterrupt:
            # Ask the file, not `done`: a Ctrl-C may land after a save and before `done` moves on.
            on_disk = saved_epoch(directory) if directory is not None else None
            saved = f"epoch {on_disk} is saved in {directory}" if on_disk else "nothing was saved"
            raise TrainingInterrupted(f"interrupted: {saved}") from None
        finally:
            bar.close()
        return history

    def one_epoch(self, epoch: int, history: History, bar, directory: Path | None, done: int) -> dict:
        """Train one pass over the data; returns the epoch's record (step averages, evaluation, timing)."""
        sums: dict[str, float] = {}
        counted = 0
        start = time.perf_counter()
        n = len(self.train_data[0])
        batch_iter = batches(*self.train_data, batch_size=self.batch_size, generator=self.data_generator,
                             drop_last=self.drop_last)  # fmt: skip
        for i, batch in enumerate(batch_iter):
            try:
                metrics = self.step(batch)
            except NonFiniteError as e:
                if not self.skip_nonfinite:
                    raise NonFiniteError(_nonfinite_message(e, epoch, i + 1, directory, done)) from None
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
        if counted == 0:
            raise NonFiniteError(
                f"training stopped at epoch {epoch}: every batch had a NaN or inf loss or gradient and was skipped, "
                "so the model did not train; fix: lower the learning rate (the last good checkpoint is kept)"
            )
        seconds = time.perf_counter() - start
        record = {k: v / counted for k, v in sums.items()}
        if self.evaluate is not None:
            record.update(_quietly(self.evaluate, self.model))
        record.update(epoch=epoch, seconds=seconds, images_per_s=n / seconds)
        return record


def _nonfinite_message(error: NonFiniteError, epoch: int, batch: int, directory: Path | None, done: int) -> str:
    """What stopped training, where, what is kept, and the fix: one line."""
    if directory is None:
        kept = "no checkpoint was kept"
    elif done == 0:
        kept = f"no epoch had finished, so no checkpoint was written to {directory}"
    else:
        kept = f"the last good checkpoint (epoch {done}) is in {directory}"
    return (
        f"training stopped at epoch {epoch}, batch {batch}: {error}; {kept}; "
        "fix: lower the learning rate, or skip such batches (skip_nonfinite=True, --skip-nonfinite)"
    )


def fit_run(
    kind: str,
    settings,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    step: Callable[[tuple[torch.Tensor, ...]], dict[str, float]],
    train_data: tuple[torch.Tensor, ...],
    *,
    out_dir: str | Path | None = None,
    **options,
) -> History:
    """:func:`fit` for a model's training recipe, through the runs cache.

    Epochs, batch size and seed come from ``settings`` (a :class:`~gengen_lib.runs.RunSettings`);
    the run lives in ``out_dir`` or ``runs/<kind>-<hash of the settings>``, and its
    :func:`~gengen_lib.runs.run_identity` is checked: another run's checkpoint is refused.
    ``options`` go to :func:`fit` (``evaluate``, ``snapshot``, ``generators``, ``skip_nonfinite``,
    ``quiet``, ``drop_last``).
    """
    return fit(
        model,
        optimizers,
        step,
        train_data,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        seed=settings.seed,
        checkpoint_dir=out_dir or run_dir(kind, settings),
        config={"model": kind, **run_identity(settings), "epochs": None},  # epochs null, as checkpoints store it
        **options,
    )


def _check_writable(directory: Path) -> None:
    """Create the run folder and prove it writable with an exclusive probe file (never through a symlink)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(directory / f".write-test-{os.getpid()}", b"")
        (directory / f".write-test-{os.getpid()}").unlink()
    except OSError as e:
        raise CheckpointError(
            f"cannot write checkpoints to {directory} ({e.strerror}); fix: choose a writable --out"
        ) from None
