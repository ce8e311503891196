"""The pretrained models that ship with the course, in ``weights/``.

Every model a chapter uses was trained once with the CLI and packed here: float16 weights
(computation stays float32; every number in the book is measured on the rounded weights),
the per-epoch history, per-step curves and the start / half / end sample snapshots, so no
figure needs a retraining. ``weights/manifest.json`` records, for each file, its sha256,
the settings, the command and commit that trained it, and its measured metrics. Each file
also names itself and its settings in its own metadata (since format 2), so two files
swapped together with their checksums are caught. Loading verifies the manifest, the
checksum, the name and settings and that every weight is finite, and refuses a problem in
one line: a damaged manifest never falls back to a silent 100-epoch training.

    model, history = pretrained.load_or_train("vae", vae.VAESettings(), pretrained=True)

returns the shipped model when its settings are the shipped ones, and otherwise trains
(or resumes, or loads) through the runs cache, as ``pretrained=False`` always does.

To (re)pack a model after training it: ``python -m gengen_lib ship NAME`` (see ``SHIPPED``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from . import families
from .checkpoints import CHECKPOINT_NAME, read_checkpoint, write_atomically
from .data import sha256_of
from .families import SHIPPED
from .family import MeasureOptions
from .options import command_line
from .runs import run_dir, run_identity, settings_dict
from .training import History

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST_NAME = "manifest.json"
FORMAT = "gengen-pretrained-2"  # 2: the file names itself and its settings in its metadata
OLD_FORMATS = ("gengen-pretrained-1",)  # without them: loaded with every check but the name and settings
MANIFEST_FIX = "fix: git checkout -- weights/manifest.json (or train your own with pretrained=False)"
STORAGE_DTYPE = torch.float16


class PretrainedError(RuntimeError):
    """A shipped model is missing or damaged; the message says how to fix it."""


def shipped_name(settings) -> str | None:
    """The name of the shipped model trained with these settings (whatever the epochs), or None."""
    for name, (_, shipped) in SHIPPED.items():
        if type(settings) is type(shipped) and run_identity(settings) == run_identity(shipped):
            return name
    return None


def manifest(weights_dir: Path = WEIGHTS_DIR, missing_ok: bool = False) -> dict:
    """name -> entry of ``weights/manifest.json``, checked; :class:`PretrainedError` in one line if it
    is missing (unless ``missing_ok``: packing into a new folder), not a file, not JSON, or malformed."""
    path = weights_dir / MANIFEST_NAME
    if missing_ok and not (path.exists() or path.is_symlink()):
        return {}
    if path.exists() and not path.is_file():  # a directory, or a FIFO whose read would wait forever
        raise PretrainedError(f"weights/{MANIFEST_NAME} is not a file; {MANIFEST_FIX}")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PretrainedError(f"weights/{MANIFEST_NAME} is missing; {MANIFEST_FIX}") from None
    except IsADirectoryError:
        raise PretrainedError(f"weights/{MANIFEST_NAME} is not a file; {MANIFEST_FIX}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PretrainedError(f"weights/{MANIFEST_NAME} cannot be read ({_reason(e)}); {MANIFEST_FIX}") from None
    try:
        book = json.loads(text)
    except ValueError as e:
        raise PretrainedError(f"weights/{MANIFEST_NAME} is not valid JSON ({_reason(e)}); {MANIFEST_FIX}") from None
    _check_manifest(book)
    return book


def _reason(e: BaseException) -> str:
    """The first line of an error's message (its OS reason when it has one)."""
    text = str(e).strip().splitlines()
    return getattr(e, "strerror", None) or (text[0][:200] if text else type(e).__name__)


def _check_manifest(book) -> None:
    """Every entry names a plain file in weights/ and its sha256."""

    def need(condition: bool, what: str) -> None:
        if not condition:
            raise PretrainedError(f"weights/{MANIFEST_NAME} {what}; {MANIFEST_FIX}")

    need(isinstance(book, dict), f"is not a JSON object of models (it is a {type(book).__name__})")
    need(len(book) > 0, "lists no models")
    for name, entry in book.items():
        need(isinstance(entry, dict), f"entry {name!r} is not an object")
        file = entry.get("file")
        need(isinstance(file, str) and re.fullmatch(r"[\w][\w.-]*\.safetensors", file) is not None,
             f"entry {name!r} has no valid 'file' (got {file!r})")  # fmt: skip
        digest = entry.get("sha256")
        need(isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest) is not None,
             f"entry {name!r} has no valid 'sha256' (got {digest!r})")  # fmt: skip


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def _history(tensors: dict[str, torch.Tensor], state: dict) -> History:
    steps = {k.removeprefix("steps/"): v.float().tolist() for k, v in tensors.items() if k.startswith("steps/")}
    snapshots = {
        k.removeprefix("snapshot/"): v.float() / 255.0 for k, v in tensors.items() if k.startswith("snapshot/")
    }
    return History(state["epochs"], steps, snapshots, state.get("skipped_batches", 0))


def load(name: str, device: torch.device | str = "cpu", weights_dir: Path = WEIGHTS_DIR) -> tuple[nn.Module, History]:
    """The shipped model ``name`` (float32, eval mode, on ``device``) and its training history."""
    book = manifest(weights_dir)
    entry = book.get(name)
    if name in SHIPPED and entry is None:
        raise PretrainedError(f"weights/{MANIFEST_NAME} has no entry for {name!r}; {MANIFEST_FIX}")
    if entry is None or name not in SHIPPED:
        known = ", ".join(sorted(book)) or "none"
        raise PretrainedError(
            f"no shipped model named {name!r} (shipped: {known}); fix: train it with pretrained=False"
        )
    path = weights_dir / entry["file"]
    fix = f"fix: git checkout -- weights/{entry['file']} (or train it yourself with pretrained=False)"
    if not path.is_file():
        raise PretrainedError(f"weights/{entry['file']} is missing; {fix}")
    if sha256_of(path) != entry["sha256"]:
        raise PretrainedError(f"weights/{entry['file']} does not match the sha256 in weights/manifest.json; {fix}")
    try:
        tensors = load_file(str(path))
        with open(path, "rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        metadata = header["__metadata__"]
        state = json.loads(metadata["state"])
        family, settings = SHIPPED[name]
        _check_identity(entry["file"], name, settings, metadata, fix)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:
        raise PretrainedError(f"weights/{entry['file']} cannot be read ({_reason(e)}); {fix}") from None
    model = family.build(settings)
    weights = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
    reference = model.state_dict()
    for key, value in weights.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise PretrainedError(f"weights/{entry['file']} holds NaN or inf in {key}; {fix}")
    weights = {k: v.to(reference[k].dtype) if k in reference else v for k, v in weights.items()}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        raise PretrainedError(f"weights/{entry['file']} does not fit the {name} model ({_reason(e)}); {fix}") from None
    return model.to(device).eval(), _history(tensors, state)


def _check_identity(file: str, name: str, settings, metadata: dict, fix: str) -> None:
    """A file of format 2 must be the model its manifest entry names, with the shipped settings."""
    if metadata.get("format") in OLD_FORMATS:
        return  # packed before files named themselves: the sha256 is all there is
    if metadata.get("format") != FORMAT:
        raise PretrainedError(f"weights/{file} is not a gengen pretrained file; {fix}")
    if metadata.get("name") != name:
        raise PretrainedError(
            f"weights/{file} holds the model {metadata.get('name')!r}, not {name!r} (the manifest's entries were "
            f"swapped or edited); fix: git checkout -- weights/"
        )
    if json.loads(metadata.get("settings", "null")) != settings_dict(settings):
        raise PretrainedError(
            f"weights/{file} was trained with other settings than the shipped {name}; fix: git checkout -- weights/"
        )


def load_or_train(kind: str, settings, pretrained: bool = True, **train_options) -> tuple[nn.Module, History]:
    """The shipped model for ``settings`` when ``pretrained`` and one exists; otherwise train.

    Training goes through the runs cache (``runs/``): a finished run is loaded, an
    unfinished one resumed. ``train_options`` go to the training function (``device``,
    ``quiet``, and for GANs ``evaluate``).
    """
    name = shipped_name(settings) if pretrained else None
    if name is not None:  # a damaged or incomplete manifest is an error, never a silent training
        return load(name, train_options.get("device") or "cpu")
    return families.family(kind).train(settings, **train_options)


# ---------------------------------------------------------------------------------------
# Packing (maintainers: after training with the CLI)
# ---------------------------------------------------------------------------------------


def _storage(t: torch.Tensor) -> torch.Tensor:
    return t.to(STORAGE_DTYPE) if t.is_floating_point() else t


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=WEIGHTS_DIR.parent)  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _end_snapshot(model: nn.Module) -> torch.Tensor:
    """The ``end`` snapshot of a run stopped before its last epoch: 64 samples from seed 3, as training draws."""
    with torch.no_grad():
        return model.eval().sample(64, generator=torch.Generator().manual_seed(3)).cpu()


def _run_settings(family, state: dict):
    """The settings a checkpoint was trained with (its recorded config), with the epochs it reached."""
    names = {f.name for f in dataclasses.fields(family.settings)} - {"epochs"}
    recorded = {k: tuple(v) if isinstance(v, list) else v for k, v in state["config"].items() if k in names}
    return family.settings(**recorded, epochs=state["epoch"])


def pack(
    name: str,
    metrics: dict | None = None,
    run: Path | None = None,
    weights_dir: Path = WEIGHTS_DIR,
    note: str = "",
) -> dict:
    """Pack the finished run of shipped model ``name`` into ``weights/`` and record it in the manifest.

    The weights are stored as float16; ``metrics`` (measured on the rounded model) go into
    the manifest entry. Returns the entry.
    """
    family, settings = SHIPPED[name]
    run = Path(run) if run is not None else run_dir(family.name, settings)
    if not (run / CHECKPOINT_NAME).exists():
        raise PretrainedError(f"there is no trained run of {name} in {run}; fix: python -m gengen_lib train "
                              f"{family.name} {command_line(settings)}".strip())  # fmt: skip
    tensors, state = read_checkpoint(run / CHECKPOINT_NAME)
    # The model as its recipe returns it from the finished run (for most families the checkpoint's
    # weights; flow matching also removes its weight average's initial bias).
    model, _ = family.train(_run_settings(family, state), out_dir=run, quiet=True, device="cpu")
    out = {f"model/{k}": _storage(v) for k, v in model.state_dict().items()}
    snapshots = {k: v for k, v in tensors.items() if k.startswith("snapshot/")}
    if "snapshot/end" not in snapshots:
        snapshots["snapshot/end"] = _end_snapshot(model)
    out.update({k: (v.clamp(0, 1) * 255).round().to(torch.uint8) for k, v in snapshots.items()})
    history = state["history"]
    out.update({f"steps/{k}": torch.tensor(v, dtype=torch.float32) for k, v in history["steps"].items()})
    record = {"epochs": history["epochs"], "skipped_batches": history.get("skipped_batches", 0)}
    weights_dir.mkdir(parents=True, exist_ok=True)
    path = weights_dir / f"{name}.safetensors"
    identity = {"name": name, "settings": json.dumps(settings_dict(settings))}
    write_atomically(path, save(out, metadata={"format": FORMAT, "state": json.dumps(record), **identity}))
    entry = {
        "file": path.name,
        "sha256": sha256_of(path),
        "bytes": path.stat().st_size,
        "kind": family.name,
        "settings": settings_dict(settings),
        "epochs_trained": state["epoch"],
        "storage_dtype": str(STORAGE_DTYPE).removeprefix("torch."),
        "command": f"python -m gengen_lib train {family.name} --epochs {state['epoch']} {command_line(settings)}"
        .strip(),
        "commit": _git_commit(),
        "training_seconds": sum(e["seconds"] for e in history["epochs"]),
        "metrics": metrics or {},
        **({"note": note} if note else {}),
    }
    _write_manifest({**manifest(weights_dir, missing_ok=True), name: entry}, weights_dir)
    return entry


def _write_manifest(book: dict, weights_dir: Path) -> None:
    text = json.dumps(dict(sorted(book.items())), indent=1) + "\n"
    write_atomically(weights_dir / MANIFEST_NAME, text.encode())


def record_metrics(name: str, metrics: dict, weights_dir: Path = WEIGHTS_DIR) -> None:
    """Store the measured metrics of shipped model ``name`` in the manifest."""
    book = manifest(weights_dir)
    book[name]["metrics"] = metrics
    _write_manifest(book, weights_dir)


def measure(name: str, k: int = 5000, n: int | None = None, samples: int = 10_000) -> dict:
    """The metrics the chapters quote for shipped model ``name``, measured on its rounded weights.

    What each family measures is its record's ``measure`` (e.g. the VAE's test ELBO and
    importance-sampled log-likelihood with ``k`` samples on the first ``n`` test images; the
    generators' sample quality of ``samples`` draws, scored by the shipped classifier).
    """
    family, settings = SHIPPED[name]
    model, _ = load(name)
    options = MeasureOptions(k=k, n=n, samples=samples, classifier=lambda: load("classifier")[0])
    return family.measure(model, settings, options)
