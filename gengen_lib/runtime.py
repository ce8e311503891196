"""Where code runs and how it is seeded: the device, the seed, quick mode."""

from __future__ import annotations

import os
import random

import torch

from . import figure_fingerprint

QUICK_ENV = "GENGEN_QUICK"


def pick_device(name: str | None = None) -> torch.device:
    """``cuda`` when a GPU is present, the CPU otherwise (``name`` forces one)."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's and torch's global generators (all devices)."""
    random.seed(seed)
    torch.manual_seed(seed)


def quick_mode(default: bool = False) -> bool:
    """True when the environment asks for the quick CI mode (``GENGEN_QUICK=1``)."""
    value = os.environ.get(QUICK_ENV)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def describe_device(device: torch.device) -> str:
    """A short human name: the GPU model, or the CPU with its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def check_positive_ints(**parameters) -> None:
    """Refuse notebook parameters that are not positive integers, with the fix in one line.

    papermill passes ``-p n 64`` as an int but ``-p n abc`` as a string; the error should
    say so rather than surface later as an obscure TypeError.
    """
    for name, value in parameters.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"parameter {name} must be a positive integer, got {value!r}; fix: -p {name} 64")


def check_seed(seed) -> None:
    """Refuse a notebook ``seed`` that torch cannot use, with the fix in one line."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"parameter seed must be a whole number from 0 to 2**63 - 1, got {seed!r}; fix: -p seed 0")


def check_flags(**parameters) -> None:
    """Refuse notebook parameters that should be True or False (papermill passes -p x abc as a string)."""
    for name, value in parameters.items():
        if not isinstance(value, bool):
            raise ValueError(f"parameter {name} must be True or False, got {value!r}; fix: -p {name} False")


def setup_figures(figure_format: str = "retina") -> None:
    """How a notebook's figures are drawn and shown: the inline format, the course's text sizes
    (:data:`gengen_lib.plots.STYLE`) and each figure's description in its output
    (:mod:`gengen_lib.alt_text`)."""
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats(figure_format)
    except ImportError:  # outside Jupyter: nothing to set
        pass
    from . import alt_text, plots

    plots.use_style()
    alt_text.install()
    figure_fingerprint.register()  # last: choosing a figure format resets the figure formatters


def notebook_setup(quick: bool, seed: int = 0, figure_format: str = "retina") -> tuple[bool, torch.device]:
    """The set-up every chapter notebook starts with; returns (quick, device).

    Checks ``seed``, lets ``GENGEN_QUICK`` switch quick mode on or off (so nbval and
    papermill can choose it), picks the device, seeds Python's and torch's generators,
    sets up the figures (:func:`setup_figures`), and prints one line saying which mode and
    device run.
    """
    check_seed(seed)
    quick = quick_mode(default=quick)
    device = pick_device()
    seed_everything(seed)
    setup_figures(figure_format)
    print(f"mode: {'quick' if quick else 'full'}; device: {describe_device(device)}")
    return quick, device
