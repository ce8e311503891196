"""The learner's wait: each chapter notebook run in full mode, as a learner would after cloning.

    .venv/bin/python bench/learner.py [NAME ...]      # default: 01_vae 02_gan 03_flows 05_comparison

Each notebook's text source is executed with papermill in full mode (GENGEN_QUICK=0) with
an empty runs folder (GENGEN_RUNS in a fresh temporary directory), so nothing trained
earlier is reused: what it needs comes from the shipped models in weights/. The wall time of
each run (kernel start included) is printed and recorded in bench/RESULTS.md, between the
``learner`` markers. The target is at most 2 minutes per notebook on 2 CPU cores.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import notebooks as sources  # noqa: E402

CHAPTERS = ["01_vae", "02_gan", "03_flows", "05_comparison"]
TARGET_S = 120
BEGIN, END = "<!-- learner -->", "<!-- /learner -->"


def run(name: str) -> float:
    """Seconds to execute notebook ``name`` in full mode with an empty runs folder."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / f"{name}.ipynb", Path(tmp) / f"{name}.out.ipynb"
        nbformat.write(sources.normalize(sources.read_source(name)), src)
        env = {**os.environ, "GENGEN_QUICK": "0", "GENGEN_RUNS": str(Path(tmp) / "runs")}
        papermill = Path(sys.executable).parent / "papermill"
        start = time.perf_counter()
        subprocess.run([str(papermill), str(src), str(out), "--cwd", str(ROOT / "notebooks"), "-k", "python3"],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        seconds = time.perf_counter() - start
        if (Path(tmp) / "runs").exists():
            trained = sorted(p.name for p in (Path(tmp) / "runs").iterdir())
            print(f"warning: {name} trained {trained} instead of using shipped models", file=sys.stderr)
        return seconds


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or CHAPTERS
    rows = [
        BEGIN,
        "## The learner's wait: each chapter in full mode from a fresh clone (shipped models, empty runs folder)",
        "",
        f"Machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"cuda available: {torch.cuda.is_available()}. Date: {datetime.date.today()}. "
        "Rerun: `.venv/bin/python bench/learner.py`.",
        "",
        "| notebook | wall time (papermill, kernel start included) | target 2 min |",
        "|---|---|---|",
    ]
    for name in names:
        seconds = run(name)
        verdict = "met" if seconds <= TARGET_S else f"missed by {seconds - TARGET_S:.0f} s"
        print(f"{name}: {seconds:.0f} s ({verdict})", flush=True)
        rows.append(f"| {name} | {seconds:.0f} s | {verdict} |")
    rows.append(END)
    results = ROOT / "bench" / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + text[text.index(END) + len(END) :].lstrip("\n")
    results.write_text(text.rstrip("\n") + "\n\n" + "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
