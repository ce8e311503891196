"""Where code runs and how it is seeded: the device, the CPU threads, the seed, quick mode."""

from __future__ import annotations

import math
import os
import random
from contextlib import contextmanager
from pathlib import Path

import torch

from . import figure_fingerprint

QUICK_ENV = "GENGEN_QUICK"
THREADS_ENV = "GENGEN_THREADS"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def pick_device(name: str | None = None) -> torch.device:
    """``cuda`` when a GPU is present, the CPU otherwise (``name`` forces one)."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's and torch's global generators (all devices)."""
    random.seed(seed)
    torch.manual_seed(seed)


QUICK_VALUES = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
                "off": False}  # fmt: skip


def quick_mode(default: bool = False) -> bool:
    """Quick CI mode or not: ``GENGEN_QUICK`` (1/0, true/false, yes/no, on/off) when set, else ``default``
    (a notebook's ``quick`` parameter, which must be True or False); anything else is a one-line ValueError."""
    check_flags(quick=default)
    value = os.environ.get(QUICK_ENV)
    if value is None or not value.strip():
        return default
    if value.strip().lower() not in QUICK_VALUES:
        raise ValueError(f"{QUICK_ENV} is {value!r}; fix: {QUICK_ENV}=1 for quick mode, 0 or unset for full")
    return QUICK_VALUES[value.strip().lower()]


def _cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """The CPUs a cgroup quota allows this process (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may really use: the affinity mask (``taskset``, a container's cpuset),
    lowered to a cgroup CPU quota (a JupyterHub's per-user limit) rounded up; at least 1.

    ``os.cpu_count()`` counts the machine's CPUs, which is what torch uses by default: on a
    shared machine its threads then outnumber the cores they may run on, and they spin.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = _cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


def thread_count() -> int:
    """CPU threads for torch: ``GENGEN_THREADS`` when set (a positive whole number), else :func:`usable_cpus`."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return usable_cpus()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV} is {value!r}; fix: a whole number such as {THREADS_ENV}=1, or unset it")
    return int(value)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads to ``threads`` (default :func:`thread_count`); returns the number set."""
    threads = threads or thread_count()
    torch.set_num_threads(threads)
    return threads


@contextmanager
def torch_threads(threads: int):
    """Run the block with torch on ``threads`` CPU threads, then restore the previous number.

    For small models (batches of 256 two-d points): one thread is as fast as two on a quiet
    machine, and on a busy one it never waits for a second thread that has no core to run on.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    """How a notebook's figures are drawn and shown: the inline formats (``figure_format`` for
    images and heat maps, SVG for plots, :func:`gengen_lib.alt_text.draws_as_vector`), the course's
    text sizes (:data:`gengen_lib.plots.STYLE`) and each figure's description in its output
    (:mod:`gengen_lib.alt_text`). SVGs are reproducible: no date, fixed element ids."""
    import matplotlib

    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")  # matplotlib writes this date into an SVG
    matplotlib.rcParams["svg.hashsalt"] = "gengen"
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats(figure_format, "svg")
    except ImportError:  # outside Jupyter: nothing to set
        pass
    from . import alt_text, plots

    plots.use_style()
    alt_text.install()
    figure_fingerprint.register()  # last: choosing a figure format resets the figure formatters


def notebook_setup(quick: bool, seed: int = 0, figure_format: str = "retina") -> tuple[bool, torch.device]:
    """The set-up every chapter notebook starts with; returns (quick, device).

    Checks ``seed``, lets ``GENGEN_QUICK`` switch quick mode on or off (so nbval and
    papermill can choose it), sets torch's CPU threads to the CPUs the kernel may really use
    (:func:`thread_count`: ``GENGEN_THREADS``, or the affinity mask and cgroup quota), picks the
    device, seeds Python's and torch's generators, sets up the figures (:func:`setup_figures`),
    and prints one line saying which mode and device run.
    """
    check_seed(seed)
    quick = quick_mode(default=quick)
    configure_threads()
    device = pick_device()
    seed_everything(seed)
    setup_figures(figure_format)
    print(f"mode: {'quick' if quick else 'full'}; device: {describe_device(device)}")
    return quick, device
