"""The learner's wait: each chapter notebook run in full mode, as a learner would after cloning.

    .venv/bin/python bench/learner.py [NAME ...]      # default: 01_vae 02_gan 03_flows 05_comparison 07_flow_matching
    .venv/bin/python bench/learner.py --busy 01_vae   # beside one competing CPU-bound process

Each notebook's text source is executed with papermill in full mode (GENGEN_QUICK=0) with
an empty runs folder (GENGEN_RUNS in a fresh temporary directory), so nothing trained
earlier is reused: what it needs comes from the shipped models in weights/. The wall time of
each run (kernel start included) is printed and recorded in bench/RESULTS.md, between the
``learner`` markers. The target is at most 2 minutes per notebook on 2 CPU cores.

With ``--busy`` each chapter runs beside a competing CPU-bound process (a pure-Python loop,
like a busy browser tab or another learner's kernel on a shared hub), and both figures are
recorded, between the ``learner-busy`` markers: the chapter's wall time, and the share of one
core the competitor got (its loop rate beside the chapter over its rate alone). The thread
count the chapter uses is its own choice (``GENGEN_THREADS`` when set; see the README).
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
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

CHAPTERS = ["01_vae", "02_gan", "03_flows", "05_comparison", "07_flow_matching"]
TARGET_S = 120
BEGIN, END = "<!-- learner -->", "<!-- /learner -->"
BUSY_BEGIN, BUSY_END = "<!-- learner-busy -->", "<!-- /learner-busy -->"
# A competitor: count loop iterations until SIGTERM, then print the count.
SPIN = """
import signal, sys, time
n, start, stop = 0, time.perf_counter(), []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
while not stop:
    for _ in range(100_000):
        pass
    n += 1
print(n / (time.perf_counter() - start), flush=True)
"""


def spin_rate(seconds: float | None = None, process: subprocess.Popen | None = None) -> float:
    """Loop rate (blocks of 100,000 iterations per second) of a competitor, run ``seconds`` alone or already running."""
    if process is None:
        process = subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
        time.sleep(seconds)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate()
    return float(out)


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


def busy(names: list[str]) -> list[str]:
    """Each chapter beside one competing CPU-bound process: rows for RESULTS.md."""
    alone = spin_rate(10.0)
    threads = os.environ.get("GENGEN_THREADS", "the usable CPUs")
    rows = [
        BUSY_BEGIN,
        "## The learner's wait on a shared machine: each chapter beside one competing CPU-bound process",
        "",
        f"Machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} before the run, "
        f"torch {torch.__version__}, threads: {threads}. Date: {datetime.date.today()}. "
        "Rerun: `.venv/bin/python bench/learner.py --busy NAME`.",
        "",
        "| notebook | wall time beside the competitor | the competitor's share of one core |",
        "|---|---|---|",
    ]
    for name in names:
        competitor = subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
        try:
            seconds = run(name)
        finally:
            share = spin_rate(process=competitor) / alone
        print(f"{name}: {seconds:.0f} s beside a competitor, which got {share:.0%} of its rate alone", flush=True)
        rows.append(f"| {name} | {seconds:.0f} s | {share:.0%} |")
    return [*rows, BUSY_END]


def record(rows: list[str], begin: str, end: str) -> None:
    """Replace the section between ``begin`` and ``end`` in bench/RESULTS.md with ``rows``."""
    results = ROOT / "bench" / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    if begin in text:
        text = text[: text.index(begin)] + text[text.index(end) + len(end) :].lstrip("\n")
    results.write_text(text.rstrip("\n") + "\n\n" + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Each chapter in full mode from a fresh clone, timed.")
    parser.add_argument("names", nargs="*", help=f"notebooks (default: {' '.join(CHAPTERS)})")
    parser.add_argument("--busy", action="store_true", help="run beside one competing CPU-bound process")
    args = parser.parse_args(argv)
    names = args.names or CHAPTERS
    if args.busy:
        record(busy(names), BUSY_BEGIN, BUSY_END)
        return 0
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
    record(rows, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
