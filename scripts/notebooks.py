"""The notebooks' text sources and their executed copies.

Each lecture is written in ``notebooks/NAME.py`` (jupytext percent format: ``# %%`` code
cells, ``# %% [markdown]`` text cells), which people edit and review. ``notebooks/NAME.ipynb``
is the executed artefact: the same cells plus the outputs that the book renders and nbval
compares. This script keeps the two in step:

    python scripts/notebooks.py sync [NAME ...]      .py -> .ipynb, keeping the outputs of unchanged cells
    python scripts/notebooks.py check                exit 1 if a .py and its .ipynb disagree on any cell
    python scripts/notebooks.py execute [NAME ...]   .py -> papermill (full mode) -> .ipynb, only on success
    python scripts/notebooks.py normalize [NAME ...] strip volatile metadata, stable cell ids

Written notebooks carry no per-cell timestamps or papermill state; cell ids are derived
from the cell's content, so executing a notebook twice changes only outputs that changed.
The notebook-level ``papermill.duration`` (read by the "running it yourself" page) is kept.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
from jupytext.combine import combine_inputs_with_outputs

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TEXT_FORMAT = "py:percent"
KEPT_CELL_METADATA = ("tags",)
KEPT_PAPERMILL_METADATA = ("duration", "parameters")


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


def execute(name: str, env: dict[str, str]) -> None:
    """Run the text source with papermill; the stored notebook is replaced only on success."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / f"{name}.ipynb", Path(tmp) / f"{name}.out.ipynb"
        nbformat.write(normalize(read_source(name)), src)
        papermill = Path(sys.executable).parent / "papermill"
        command = [str(papermill), str(src), str(out), "--cwd", str(NOTEBOOKS), "-k", "python3"]
        subprocess.run(command, check=True, env={**os.environ, **env})
        write(nbformat.read(out, as_version=4), NOTEBOOKS / f"{name}.ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/notebooks.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "check", "execute", "normalize"])
    parser.add_argument("names", nargs="*", help="notebook stems, e.g. 01_vae (default: all)")
    args = parser.parse_args(argv)
    if args.command == "check":
        problems = [p for n in names(args.names) for p in disagreements(n)]
        for p in problems:
            print(f"error: {p}; fix: python scripts/notebooks.py sync", file=sys.stderr)
        return 1 if problems else 0
    for name in names(args.names):
        if args.command == "sync":
            sync(name)
        elif args.command == "normalize":
            path = NOTEBOOKS / f"{name}.ipynb"
            write(nbformat.read(path, as_version=4), path)
        else:
            print(f"== {name} (full mode)", flush=True)
            try:
                execute(name, {"GENGEN_QUICK": "0"})
            except subprocess.CalledProcessError:
                print(f"error: notebooks/{name} failed; the stored notebook is unchanged", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
