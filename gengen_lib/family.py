"""A model family as one record: what the command line, the shipped models and the tests need.

Each family's module (``vae``, ``gan``, ``flows``, ``flow_matching``, ``quality``) ends with
its ``FAMILY = Family(...)``; :mod:`gengen_lib.families` collects them, and everything that
works on "every model" iterates over that collection instead of listing the families by hand.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class MeasureOptions:
    """How much to measure when a shipped model is packed (``python -m gengen_lib ship``).

    ``k`` importance samples on the first ``n`` test images (VAE; all 10,000 when None);
    ``samples`` draws scored for sample quality; ``bpd_images`` images for an ODE likelihood;
    ``classifier()`` returns the MNIST classifier that scores samples (loaded only when asked).
    """

    k: int = 5000
    n: int | None = None
    samples: int = 10_000
    bpd_images: int = 1000
    classifier: Callable[[], nn.Module] | None = None


def no_training_extras(settings, quick: bool, device, out_dir, load_or_train) -> dict:
    """A family's ``training_extras`` when its ``train`` needs nothing more: no keyword arguments."""
    return {}


@dataclass(frozen=True)
class Family:
    """One kind of model, from its settings to its measured metrics.

    ``name``: the CLI's word and the runs folder's prefix (``runs/<name>-<hash>``).
    ``settings``: its frozen :class:`~gengen_lib.runs.RunSettings` dataclass; the CLI's
    options are generated from its fields, defaults and ``HELP``.
    ``build(settings) -> nn.Module``: the untrained model (no data, no device).
    ``train(settings, *, device=None, out_dir=None, quiet=False, skip_nonfinite=False, ...)
    -> (model, History)``: train, resume or load through the runs cache.
    ``measure(model, settings, MeasureOptions) -> dict``: the metrics recorded for a shipped model.
    ``shipped``: shipped name -> the settings it was trained with (its file may not exist yet).
    ``training_extras(settings, quick, device, out_dir, load_or_train) -> dict``: more keyword
    arguments for ``train`` that whoever trains must build (the GAN's per-epoch sample-quality
    scores), none by default; ``load_or_train`` (:func:`gengen_lib.pretrained.load_or_train`, passed
    in: the registry sits above the families) loads another model they need, shipped or trained.
    ``exporter(out_dir) -> list[Path]``: writes the family's in-page explorer weights, or None;
    ``python -m gengen_lib.export`` runs every family's (:func:`explorer_exporter`).
    ``exercises``: the module under ``gengen_lib`` whose ``EXERCISES`` (a
    :class:`~gengen_lib.checking.ExerciseSet`) are the family's exercises, or None;
    :mod:`gengen_lib.exercises` collects them, in the registry's order.

    What the comparison chapter (``notebooks/05_comparison``) reads, for the families it compares:
    ``label``: the model's name in the book. ``compared``: the shipped models it draws from (with
    several, the one whose training ended with the lowest MNIST-FID). ``sample_options``: the
    keyword arguments of ``model.sample`` the book uses. ``sample_cost``: one sample's network
    passes, in words. ``scored_when_packed``: its 10,000 scored samples take minutes (an ODE solve
    each), so the book quotes the scores measured when the weights were packed.
    ``sample_shape``: one sample of ``model.sample(n)``, whose output is ``(n, *sample_shape)``:
    an MNIST image in [0, 1] by default, a point ``(2,)`` for the two-moons families.
    """

    name: str
    summary: str
    settings: type
    build: Callable[[Any], nn.Module]
    train: Callable[..., tuple[nn.Module, Any]]
    measure: Callable[[nn.Module, Any, MeasureOptions], dict]
    shipped: Mapping[str, Any] = field(default_factory=dict)
    training_extras: Callable[[Any, bool, torch.device | None, Path | None, Callable], dict] = no_training_extras
    exporter: Callable[[Path], list[Path]] | None = None
    exercises: str | None = None
    label: str = ""
    compared: tuple[str, ...] = ()
    sample_options: Mapping[str, Any] = field(default_factory=dict)
    sample_cost: str = "1 network pass"
    scored_when_packed: bool = False
    sample_shape: tuple[int, ...] = (1, 28, 28)


def explorer_exporter(module: str, function: str) -> Callable[[Path], list[Path]]:
    """A record's ``exporter``: ``gengen_lib.export.<module>.<function>(out_dir)``, imported only when it runs.

    (The export modules import the family modules, so a family cannot import its exporter when it loads.)
    """

    def export(out_dir: Path) -> list[Path]:
        return getattr(importlib.import_module(f"gengen_lib.export.{module}"), function)(out_dir)

    return export
