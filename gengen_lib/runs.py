"""Where trained models live: one directory per (model, settings), under ``runs/``.

A notebook or the CLI asks for a model with given settings; if a finished run with the
same settings exists it is loaded, if an unfinished one exists it is resumed, otherwise
training starts. Quick-mode runs have their own directories, so they never read a
full-mode result (or the other way round).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, is_dataclass, replace
from pathlib import Path
from typing import ClassVar

from torch import nn

from .checkpoints import write_atomically

RUNS_ENV = "GENGEN_RUNS"


class CacheError(ValueError):
    """A cached result cannot be read or stored; the message says which file and the fix."""


def runs_root() -> Path:
    """``$GENGEN_RUNS`` if set, else ``runs/`` at the repository root."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV])
    return Path(__file__).resolve().parent.parent / "runs"


# The help lines of the training settings that every MNIST family has: a family's ``HELP`` spreads
# these first and then adds its own lines (a line of its own with the same key rewords one).
MNIST_TRAINING_HELP = {
    "lr": "Adam learning rate",
    "batch_size": "images per mini-batch",
    "epochs": "passes over the training images",
    "seed": "random seed, 0 to 2**63 - 1",
    "train_subset": "train on the first N training images only (default: all 50,000)",
}


class RunSettings:
    """Base of the frozen settings dataclasses (``VAESettings``, ``GANSettings``, ...).

    Each subclass lists, in ``QUICK``, what the CI quick mode changes (a subset of the data,
    few epochs); ``quick(**overrides)`` and ``for_mode(quick, **overrides)`` build from it.
    ``HELP`` gives each field a short description with its unit (the command line's help);
    ``ALIASES`` names extra command-line flags, ``{"fixed_scale": ("learned_scale", False)}``.
    """

    QUICK: ClassVar[dict] = {}
    HELP: ClassVar[dict[str, str]] = {}
    ALIASES: ClassVar[dict[str, tuple[str, object]]] = {}

    @classmethod
    def quick(cls, **overrides):
        """The CI quick setting, with ``overrides``."""
        return cls(**{**cls.QUICK, **overrides})

    @classmethod
    def for_mode(cls, quick: bool, **overrides):
        """The chapter's full setting, or the quick one when ``quick``, with ``overrides`` either way."""
        return cls.quick(**overrides) if quick else cls(**overrides)

    def in_mode(self, quick: bool):
        """These settings, or their quick twin (``QUICK`` applied) when ``quick``."""
        return replace(self, **self.QUICK) if quick else self


def settings_dict(settings) -> dict:
    """A JSON-able dict of a settings dataclass (tuples become lists)."""
    d = asdict(settings) if is_dataclass(settings) else dict(settings)
    return json.loads(json.dumps(d))


def run_identity(settings) -> dict:
    """What makes two runs the same run: every setting except ``epochs``.

    Epochs are not part of a run's identity, so that a longer run resumes a shorter one and
    settings with other epochs still name the same shipped model.
    """
    return {k: v for k, v in settings_dict(settings).items() if k != "epochs"}


def run_dir(kind: str, settings, root: Path | None = None) -> Path:
    """``runs/<kind>-<hash of the run's identity>`` (:func:`run_identity`): same run, same directory."""
    d = run_identity(settings)
    digest = hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]
    return (root or runs_root()) / f"{kind}-{digest}"


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def cached_json(path: Path, compute):
    """Return the JSON stored at ``path``, or ``compute()`` it and store it there first.

    For expensive evaluations of a finished run (e.g. a test-set likelihood) that a
    notebook would otherwise redo on every execution. The file is written atomically
    through an exclusive temporary file (a symlink planted at ``path`` or beside it is never
    followed); a damaged cache, a planted link or a full disk is a one-line :class:`CacheError`.
    """
    path = Path(path)
    fix = "fix: delete it to compute it again"
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise CacheError(f"the cached result {path} is not a regular file; {fix}")
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as e:
            reason = getattr(e, "strerror", None) or str(e).splitlines()[0]
            raise CacheError(f"the cached result {path} is damaged ({reason}); {fix}") from None
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(value).encode())
    except OSError as e:
        raise CacheError(
            f"cannot store the result in {path} ({e.strerror}); fix: free disk space or make the runs folder "
            "writable (GENGEN_RUNS), then run again"
        ) from None
    return value
