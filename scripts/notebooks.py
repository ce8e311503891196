"""The notebooks' text sources and their executed copies.

Each lecture is written in ``notebooks/NAME.py`` (jupytext percent format: ``# %%`` code
cells, ``# %% [markdown]`` text cells), which people edit and review. ``notebooks/NAME.ipynb``
is the executed artefact: the same cells plus the outputs that the book renders and nbval
compares. This script keeps the two in step:

    python scripts/notebooks.py sync [NAME ...]      .py -> .ipynb, keeping the outputs of unchanged cells
    python scripts/notebooks.py check                exit 1 if a .py and its .ipynb disagree on any cell
    python scripts/notebooks.py execute [NAME ...]   .py -> papermill (full mode) -> .ipynb, only on success
    python scripts/notebooks.py diff [NAME ...]      execute, show how the outputs differ from the stored ones,
                                                     store nothing (add --store to store them after the diff)
    python scripts/notebooks.py compared [NAME ...]  how many cells that print, and figures, nbval compares
    python scripts/notebooks.py normalize [NAME ...] strip volatile metadata, stable cell ids

Written notebooks carry no per-cell timestamps or papermill state; cell ids are derived
from the cell's content, so executing a notebook twice changes only outputs that changed.
The notebook-level ``papermill.duration`` (read by the "running it yourself" page) is kept.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from jupytext.combine import combine_inputs_with_outputs
from nbval.plugin import get_sanitize_patterns

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TEXT_FORMAT = "py:percent"
KEPT_CELL_METADATA = ("tags",)
KEPT_PAPERMILL_METADATA = ("duration", "parameters")
SANITIZE = ROOT / "tests" / "sanitize.cfg"
GLUE_PREFIX = "application/papermill.record/"
IGNORED_TAG = "nbval-ignore-output"


def names(selected: list[str] | None = None) -> list[str]:
    """The stems of every text source (``00_mnist`` ...), or the selected ones."""
    available = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    if not selected:
        return available
    unknown = [n for n in selected if n not in available]
    if unknown:
        sys.exit(f"error: no text source notebooks/{unknown[0]}.py; choose from {', '.join(available)}")
    return selected


def read_source(name: str) -> nbformat.NotebookNode:
    """The notebook that ``notebooks/NAME.py`` describes (no outputs)."""
    return jupytext.read(NOTEBOOKS / f"{name}.py", fmt=TEXT_FORMAT)


def cell_inputs(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell type, source) of every cell: what a text source and its notebook must agree on."""
    return [(c.cell_type, c.source.rstrip()) for c in nb.cells]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _stable_outputs(outputs: list) -> list:
    """Outputs as a reader should get them, the same for the same results.

    Consecutive prints to one stream become one output (how the kernel chunked them depends
    on timing, and a split table would show as separate boxes). Live widget views are
    dropped: their model ids are random and, without a kernel, there is nothing to show;
    running the notebook draws them again.
    """
    merged: list = []
    for out in outputs:
        if out.get("output_type") in ("display_data", "execute_result") and WIDGET_VIEW in out.get("data", {}):
            continue
        previous = merged[-1] if merged else None
        if out.get("output_type") == "stream" and previous is not None and previous.get("output_type") == "stream" \
                and previous.get("name") == out.get("name"):  # fmt: skip
            previous["text"] = previous["text"] + out["text"]
            continue
        merged.append(out)
    return merged


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without volatile metadata, with ids derived from each cell's content."""
    nb = copy.deepcopy(nb)
    seen: dict[str, int] = {}
    for cell in nb.cells:
        cell.metadata = {k: cell.metadata[k] for k in KEPT_CELL_METADATA if k in cell.metadata}
        if cell.cell_type == "code":
            cell.outputs = _stable_outputs(cell.outputs)
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:12]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
    meta = nb.metadata
    if "papermill" in meta:
        meta["papermill"] = {k: meta["papermill"][k] for k in KEPT_PAPERMILL_METADATA if k in meta["papermill"]}
    meta.pop("jupytext", None)
    # Widget state would make the static page load the ipywidgets manager (about 4 MB) to
    # draw sliders that cannot react without a kernel; widget cells are tagged remove-output
    # and a static figure stands in for them. In JupyterLab the widgets are live as ever.
    meta.pop("widgets", None)
    meta.setdefault("kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"})
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write atomically, so an interrupted run never leaves half a notebook."""
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(normalize(nb), tmp)
    os.replace(tmp, path)


def sync(name: str) -> None:
    source = read_source(name)
    path = NOTEBOOKS / f"{name}.ipynb"
    if path.exists():
        source = combine_inputs_with_outputs(source, nbformat.read(path, as_version=4), fmt=TEXT_FORMAT)
        source.metadata = {**nbformat.read(path, as_version=4).metadata, "kernelspec": source.metadata["kernelspec"]}
    write(source, path)


def disagreements(name: str) -> list[str]:
    """Where ``NAME.py`` and ``NAME.ipynb`` differ (empty when they agree)."""
    path = NOTEBOOKS / f"{name}.ipynb"
    if not path.exists():
        return [f"notebooks/{name}.ipynb is missing; fix: python scripts/notebooks.py sync {name}"]
    text, executed = cell_inputs(read_source(name)), cell_inputs(nbformat.read(path, as_version=4))
    problems = []
    if len(text) != len(executed):
        problems.append(f"{name}: {len(text)} cells in the .py, {len(executed)} in the .ipynb")
    for i, (a, b) in enumerate(zip(text, executed, strict=False)):
        if a != b:
            first = a[1].splitlines()[0] if a[1] else "(empty)"
            problems.append(f"{name}: cell {i + 1} differs ({a[0]} cell starting {first[:60]!r})")
    return problems


def run(name: str, env: dict[str, str], parameters: dict[str, object] | None = None) -> nbformat.NotebookNode:
    """The notebook of ``notebooks/NAME.py`` executed with papermill (normalized, not stored).

    ``env`` is added to the kernel's environment; ``parameters`` are papermill's ``-p NAME VALUE``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / f"{name}.ipynb", Path(tmp) / f"{name}.out.ipynb"
        nbformat.write(normalize(read_source(name)), src)
        papermill = Path(sys.executable).parent / "papermill"
        command = [str(papermill), str(src), str(out), "--cwd", str(NOTEBOOKS), "-k", "python3"]
        command += [arg for key, value in (parameters or {}).items() for arg in ("-p", key, str(value))]
        subprocess.run(command, check=True, env={**os.environ, **env})
        return normalize(nbformat.read(out, as_version=4))


def execute(name: str, env: dict[str, str]) -> None:
    """Run the text source with papermill; the stored notebook is replaced only on success."""
    write(run(name, env), NOTEBOOKS / f"{name}.ipynb")


def sanitized(text: str, patterns: list[tuple[str, str]]) -> str:
    """``text`` with nbval's sanitize patterns applied, as nbval applies them to each output."""
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


def output_text(cell: nbformat.NotebookNode, patterns: list[tuple[str, str]]) -> list[str]:
    """The lines a code cell's outputs show as text, as nbval compares them (sanitized; figures by fingerprint)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(sanitized(out.text, patterns))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
        else:
            data = out.get("data", {})
            for key in ("text/plain", GLUE_PREFIX + "text/plain"):
                if key in data:
                    parts.append(("glued: " if key.startswith(GLUE_PREFIX) else "") + sanitized(data[key], patterns))
    return "\n".join(p.rstrip("\n") for p in parts).splitlines()


def output_diff(stored: nbformat.NotebookNode, fresh: nbformat.NotebookNode, name: str,
                compared_only: bool = False) -> list[str]:  # fmt: skip
    """A unified diff of each code cell's text outputs (stored -> fresh), headed by the cell's number
    (nbval's numbering: code cells from 0) and its first line; empty when no output changed.

    ``compared_only``: leave out the cells nbval does not compare (tagged ``nbval-ignore-output``).
    """
    patterns = get_sanitize_patterns(SANITIZE.read_text())
    stored_cells = {c.id: c for c in stored.cells if c.cell_type == "code"}
    lines = []
    for number, cell in enumerate(c for c in fresh.cells if c.cell_type == "code"):
        if compared_only and IGNORED_TAG in cell.metadata.get("tags", []):
            continue
        before = stored_cells.get(cell.id)
        old, new = output_text(before, patterns) if before else [], output_text(cell, patterns)
        if old == new:
            continue
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else "(empty)"
        label = f"notebooks/{name}.ipynb::Cell {number}  {first[:70]}"
        lines += difflib.unified_diff(old, new, f"stored   {label}", f"executed {label}", n=1, lineterm="")
    return lines


def compared(nb: nbformat.NotebookNode) -> dict[str, int]:
    """Counts over the stored outputs: code cells that print, those nbval compares, figures, figures compared."""
    printing = [c for c in nb.cells if c.cell_type == "code" and c.outputs]
    checked = [c for c in printing if IGNORED_TAG not in c.metadata.get("tags", [])]

    def figures(cells, fingerprinted=False):
        """Figures (PNG or SVG, displayed or glued); ``fingerprinted``: those whose compared text is a fingerprint."""
        count = 0
        for out in (out for c in cells for out in c.outputs):
            for key in (k for k in out.get("data", {}) if k.endswith(("image/png", "image/svg+xml"))):
                text = out.data.get(key.rsplit("image/", 1)[0] + "text/plain", "")
                count += text.startswith("figure ") or not fingerprinted
        return count

    return {"printing": len(printing), "compared": len(checked), "figures": figures(printing),
            "figures compared": figures(checked, fingerprinted=True)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/notebooks.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "check", "execute", "diff", "compared", "normalize"])
    parser.add_argument("names", nargs="*", help="notebook stems, e.g. 01_vae (default: all)")
    parser.add_argument("--store", action="store_true", help="diff: store the executed notebooks after the diff")
    args = parser.parse_args(argv)
    if args.command == "check":
        problems = [p for n in names(args.names) for p in disagreements(n)]
        for p in problems:
            print(f"error: {p}; fix: python scripts/notebooks.py sync", file=sys.stderr)
        return 1 if problems else 0
    if args.command == "compared":
        for name in names(args.names):
            counts = compared(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4))
            print(f"{name:<15} {counts['compared']:>3} of {counts['printing']:>3} cells that print, "
                  f"{counts['figures compared']:>3} of {counts['figures']:>3} figures compared")  # fmt: skip
        return 0
    for name in names(args.names):
        if args.command == "sync":
            sync(name)
        elif args.command == "normalize":
            path = NOTEBOOKS / f"{name}.ipynb"
            write(nbformat.read(path, as_version=4), path)
        else:
            print(f"== {name} (full mode)", flush=True)
            start = time.monotonic()
            try:
                fresh = run(name, {"GENGEN_QUICK": "0"})
            except subprocess.CalledProcessError:
                print(f"error: notebooks/{name} failed; the stored notebook is unchanged", file=sys.stderr)
                return 1
            print(f"== {name} executed in {time.monotonic() - start:.0f} s", flush=True)
            if args.command == "diff":
                path = NOTEBOOKS / f"{name}.ipynb"
                changes = output_diff(nbformat.read(path, as_version=4), fresh, name) if path.exists() else []
                print("\n".join(changes) if changes else f"no output of notebooks/{name}.ipynb changed")
                if not args.store:
                    continue
            write(fresh, NOTEBOOKS / f"{name}.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
