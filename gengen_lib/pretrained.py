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

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from . import flows, gan, quality, vae
from .checkpoints import write_atomically
from .data import sha256_of
from .runs import count_parameters, run_dir, settings_dict
from .training import CHECKPOINT_NAME, History, read_checkpoint

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST_NAME = "manifest.json"
FORMAT = "gengen-pretrained-2"  # 2: the file names itself and its settings in its metadata
OLD_FORMATS = ("gengen-pretrained-1",)  # without them: loaded with every check but the name and settings
MANIFEST_FIX = "fix: git checkout -- weights/manifest.json (or train your own with pretrained=False)"
STORAGE_DTYPE = torch.float16


class PretrainedError(RuntimeError):
    """A shipped model is missing or damaged; the message says how to fix it."""


@dataclass(frozen=True)
class Recipe:
    """How to build and train one kind of model."""

    settings: type
    build: callable
    command: str


def _build_gan(s: gan.GANSettings) -> nn.Module:
    return gan.GAN(s.z_dim, s.dropout)


RECIPES: dict[str, Recipe] = {
    "vae": Recipe(vae.VAESettings, lambda s: vae.VAE(s.z_dim, s.hidden), "train vae"),
    "gan": Recipe(gan.GANSettings, _build_gan, "train gan"),
    "flow": Recipe(flows.FlowSettings, flows.build_flow, "train flow"),
    "classifier": Recipe(quality.ClassifierSettings, lambda s: quality.MNISTClassifier(), "train classifier"),
}

# name -> (kind, settings, the CLI options that train it)
SHIPPED: dict[str, tuple[str, object, str]] = {
    "vae-z20": ("vae", vae.VAESettings(z_dim=20), ""),
    "vae-z2": ("vae", vae.VAESettings(z_dim=2), "--z-dim 2"),
    "gan-plain": ("gan", gan.GANSettings(dropout=0.0, real_target="one"), "--dropout 0 --real-target one"),
    "gan-regularized": ("gan", gan.GANSettings(), ""),
    "flow-learned-scale": ("flow", flows.FlowSettings(), ""),
    "flow-fixed-scale": ("flow", flows.FlowSettings(learned_scale=False), "--fixed-scale"),
    "classifier": ("classifier", quality.ClassifierSettings(), ""),
}


def _same_run(a, b) -> bool:
    """Two settings describe the same trained model (the number of epochs aside)."""
    strip = lambda s: {k: v for k, v in settings_dict(s).items() if k != "epochs"}  # noqa: E731
    return type(a) is type(b) and strip(a) == strip(b)


def shipped_name(settings) -> str | None:
    """The name of the shipped model trained with these settings, or None."""
    for name, (_, shipped, _) in SHIPPED.items():
        if _same_run(settings, shipped):
            return name
    return None


def manifest(weights_dir: Path = WEIGHTS_DIR, missing_ok: bool = False) -> dict:
    """name -> entry of ``weights/manifest.json``, checked; :class:`PretrainedError` in one line if it
    is missing (unless ``missing_ok``: packing into a new folder), not a file, not JSON, or malformed."""
    path = weights_dir / MANIFEST_NAME
    if missing_ok and not (path.exists() or path.is_symlink()):
        return {}
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
        kind, settings, _ = SHIPPED[name]
        _check_identity(entry["file"], name, settings, metadata, fix)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:
        raise PretrainedError(f"weights/{entry['file']} cannot be read ({_reason(e)}); {fix}") from None
    model = RECIPES[kind].build(settings)
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
    if kind == "vae":
        return vae.load_or_train_vae(settings, **train_options)
    if kind == "gan":
        return gan.load_or_train_gan(settings, **train_options)
    if kind == "flow":
        return flows.load_or_train_flow(settings, **train_options)
    if kind == "classifier":
        return quality.load_or_train_classifier(settings, quiet=train_options.get("quiet", True)), History()
    raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(RECIPES)}")


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


def _end_snapshot(kind: str, settings, tensors: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """The ``end`` snapshot of a run stopped before its last epoch: drawn as training would have."""
    if kind != "flow":
        return None
    model = RECIPES[kind].build(settings)
    model.load_state_dict({k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")})
    with torch.no_grad():
        return model.eval().sample(64, generator=torch.Generator().manual_seed(3))


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
    kind, settings, options = SHIPPED[name]
    run = Path(run) if run is not None else run_dir(kind, settings)
    if not (run / CHECKPOINT_NAME).exists():
        raise PretrainedError(f"there is no trained run of {name} in {run}; fix: python -m gengen_lib "
                              f"{RECIPES[kind].command} {options}".strip())  # fmt: skip
    tensors, state = read_checkpoint(run / CHECKPOINT_NAME)
    out = {k: _storage(v) for k, v in tensors.items() if k.startswith("model/")}
    snapshots = {k: v for k, v in tensors.items() if k.startswith("snapshot/")}
    if "snapshot/end" not in snapshots and (end := _end_snapshot(kind, settings, tensors)) is not None:
        snapshots["snapshot/end"] = end
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
        "kind": kind,
        "settings": settings_dict(settings),
        "epochs_trained": state["epoch"],
        "storage_dtype": str(STORAGE_DTYPE).removeprefix("torch."),
        "command": f"python -m gengen_lib {RECIPES[kind].command} --epochs {state['epoch']} {options}".strip(),
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

    VAE: test ELBO and importance-sampled log-likelihood (``k`` samples, first ``n`` test
    images) with its standard error, nats per image; GAN and flow: sample quality of
    ``samples`` draws (MNIST-FID, classifier score, class entropy); flow: bits/dim on 10,000
    training and all validation images; classifier: test accuracy.
    """
    from .data import intensities, load_mnist

    kind, settings, _ = SHIPPED[name]
    model, history = load(name)
    if kind == "classifier":
        test = load_mnist("test")
        return {"test_accuracy": quality.accuracy(model, intensities(test.images), test.labels)}
    if kind == "vae":
        return vae.test_set_metrics(model, settings, k=k, n=n, cache=False)
    meter = quality.SampleQualityMeter(load("classifier")[0])
    generator = torch.Generator().manual_seed(0)
    metrics = {}
    if kind == "flow":
        train, valid = load_mnist("train").images[:10_000], load_mnist("valid").images
        metrics["train_bpd"] = flows.dequantized_bits_per_dim(model, train, torch.Generator().manual_seed(1))
        metrics["valid_bpd"] = flows.dequantized_bits_per_dim(model, valid, torch.Generator().manual_seed(2))
        metrics["parameters"] = count_parameters(model)
    with torch.no_grad():
        images = torch.cat([model.sample(1000, generator=generator) for _ in range(samples // 1000)])
    metrics.update(meter.summary(images))
    return metrics
