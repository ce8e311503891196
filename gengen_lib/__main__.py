"""Command line: train the course's models and evaluate them.

    python -m gengen_lib train vae --epochs 100
    python -m gengen_lib train flow --fixed-scale
    python -m gengen_lib train gan --dropout 0 --real-target one
    python -m gengen_lib evaluate vae --k 5000
    python -m gengen_lib ship vae-z20          (maintainers: pack a finished run into weights/)

Runs are stored under runs/ (or --out) by their settings; a repeated command resumes the
unfinished run or loads the finished one. Errors print one line on stderr and exit with
status 1; usage mistakes exit with 2 and Ctrl-C with 130.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

try:  # importing torch takes seconds: a Ctrl-C then is one line too, not a traceback
    import torch

    from . import flows, gan, pretrained, quality, runtime, vae
    from .data import DataError
    from .training import CheckpointError, NonFiniteError
except KeyboardInterrupt:
    print("interrupted: nothing was saved", file=sys.stderr)
    raise SystemExit(130) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


MAX_SEED = 2**63 - 1
MAX_WIDTH = 1 << 16  # far beyond any model of the course; larger widths are typing slips


def _device(text: str) -> torch.device:
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; choose cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"device {text!r} cannot train these models here; choose cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError("cuda was asked for but no GPU is available; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"there is no {text}: this machine has {torch.cuda.device_count()} GPU(s)")
    return device


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63 - 1, got {value}")
    return value


def _threads(text: str) -> int:
    value = _positive_int(text)
    limit = 4 * (os.cpu_count() or 1)
    if value > limit:
        raise argparse.ArgumentTypeError(
            f"{value} threads on a machine with {os.cpu_count()} CPUs; use at most {limit}"
        )
    return value


def _width(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_WIDTH:
        raise argparse.ArgumentTypeError(f"{value} is far too large (at most {MAX_WIDTH}; the course uses up to 1024)")
    return value


def _path(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a folder, or leave --out out for runs/<model>-<hash>")
    return text


def _check_memory(model: torch.nn.Module, device: torch.device) -> None:
    """Refuse a model whose weights and Adam state alone would not fit in the machine's memory."""
    need = sum(p.numel() for p in model.parameters()) * 4 * 4  # weights, gradients, two Adam moments
    if device.type == "cuda":
        have = torch.cuda.get_device_properties(device).total_memory
    else:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > have:
        raise ValueError(f"this model needs at least {need / 2**30:.1f} GiB for its weights and optimizer state, "
                         f"more than the {have / 2**30:.1f} GiB of this machine; fix: smaller --hidden or --z-dim")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line on stderr (what is wrong, where to look) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message}; fix: see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gengen_lib", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train (or resume) a model", description="Train, resume or load a model.")
    train.add_argument("model", choices=["vae", "gan", "flow", "classifier"])
    train.add_argument("--epochs", type=_positive_int, help="number of epochs (default: the chapter's)")
    train.add_argument("--batch-size", type=_positive_int, help="mini-batch size (default: the report's)")
    train.add_argument("--seed", type=_seed, default=0, help="random seed, 0 to 2**63 - 1 (default: 0)")
    train.add_argument("--out", type=_path, help="run directory (default: runs/<model>-<hash of the settings>)")
    train.add_argument("--quick", action="store_true", help="a small subset and few epochs (as in CI)")
    train.add_argument("--train-subset", type=_positive_int, help="train on the first N training images only")
    train.add_argument("--skip-nonfinite", action="store_true", help="skip batches whose loss or gradient is NaN/inf")
    train.add_argument("--threads", type=_threads, help="CPU threads for torch")
    train.add_argument("--device", type=_device, help="cpu or cuda (default: cuda when available)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--z-dim", type=_width, default=20, help="VAE latent dimension")
    train.add_argument("--hidden", type=_width, help="hidden width (VAE: 500, flow: 512)")
    train.add_argument("--fixed-scale", action="store_true", help="flow: scale fixed to 1 (volume preserving)")
    train.add_argument("--dropout", type=float, default=0.3, help="GAN discriminator dropout")
    train.add_argument("--real-target", choices=gan.REAL_TARGETS, default="noisy", help="GAN targets for real images")
    train.add_argument("--loss", choices=gan.LOSSES, default="non_saturating", help="GAN generator loss")

    ev = commands.add_parser(
        "evaluate", help="evaluate a trained model",
        description="Test-set ELBO and importance-sampled log-likelihood of the VAE: the shipped model "
        "(weights/), or with --trained the one trained under runs/.",
    )  # fmt: skip
    ev.add_argument("model", choices=["vae"])
    ev.add_argument("--k", type=_positive_int, default=5000, help="importance samples per test image")
    ev.add_argument("--n", type=_positive_int, help="number of test images (default: all 10,000)")
    ev.add_argument("--z-dim", type=_positive_int, default=20)
    ev.add_argument("--trained", action="store_true", help="evaluate the run trained under runs/, not the shipped one")
    ev.add_argument("--threads", type=_threads)

    ship = commands.add_parser(
        "ship", help="pack finished runs into weights/ (maintainers)",
        description="Pack the finished runs of shipped models into weights/ as float16, measure them on the "
        "rounded weights and record everything in weights/manifest.json.",
    )  # fmt: skip
    ship.add_argument("names", nargs="+", choices=list(pretrained.SHIPPED), metavar="NAME",
                      help=f"one or more of: {', '.join(pretrained.SHIPPED)}")  # fmt: skip
    ship.add_argument("--k", type=_positive_int, default=5000, help="VAE: importance samples per test image")
    ship.add_argument("--n", type=_positive_int, help="VAE: number of test images (default: all 10,000)")
    ship.add_argument("--threads", type=_threads)
    ship.add_argument("--note", default="", help="a remark for the manifest (e.g. why a run stopped early)")
    return parser


def _overrides(args, **extra) -> dict:
    chosen = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "train_subset": args.train_subset,
        **extra,
    }
    return {k: v for k, v in chosen.items() if v is not None}


def _train(args) -> dict:
    device = args.device or runtime.pick_device()
    common = {"out_dir": args.out, "device": device, "quiet": args.quiet, "skip_nonfinite": args.skip_nonfinite}
    if args.model == "vae":
        settings = _settings(vae.VAESettings, args.quick, _overrides(args, z_dim=args.z_dim, hidden=args.hidden))
    elif args.model == "flow":
        extra = _overrides(args, hidden=args.hidden, learned_scale=not args.fixed_scale)
        settings = _settings(flows.FlowSettings, args.quick, extra)
    elif args.model == "gan":
        extra = _overrides(args, dropout=args.dropout, real_target=args.real_target, loss=args.loss)
        settings = _settings(gan.GANSettings, args.quick, extra)
    else:
        settings = _settings(quality.ClassifierSettings, args.quick, _overrides(args))
    with torch.device("meta"):  # count the parameters without allocating them
        _check_memory(pretrained.RECIPES[args.model].build(settings), device)
    if args.model == "vae":
        _, history = vae.load_or_train_vae(settings, **common)
    elif args.model == "flow":
        _, history = flows.load_or_train_flow(settings, **common)
    elif args.model == "gan":
        classifier = quality.load_or_train_classifier(_classifier_settings(args.quick), device=device)
        meter = quality.SampleQualityMeter(classifier)
        callback = quality.sample_quality_callback(meter, 500 if args.quick else 2000, settings.seed)
        _, history = gan.load_or_train_gan(settings, evaluate=callback, **common)
    else:
        model = quality.load_or_train_classifier(settings, out_dir=args.out, quiet=args.quiet, device=device)
        return {"test_accuracy": model.test_accuracy}
    return {k: v for k, v in history.epochs[-1].items() if not isinstance(v, list)}


def _settings(kind, quick: bool, overrides: dict):
    """The chapter's settings (or the CI quick ones) with the command line's overrides."""
    return kind.quick(**overrides) if quick else kind(**overrides)


def _classifier_settings(quick: bool) -> quality.ClassifierSettings:
    return _settings(quality.ClassifierSettings, quick, {})


def _evaluate(args) -> dict:
    settings = vae.VAESettings(z_dim=args.z_dim)
    name = pretrained.shipped_name(settings)
    if not args.trained and name in pretrained.manifest():
        model, _ = pretrained.load(name)
        print(f"evaluating the shipped model weights/{name}.safetensors", file=sys.stderr)
        return vae.test_set_metrics(model, settings, k=args.k, n=args.n, cache=False)
    from .runs import run_dir
    from .training import CHECKPOINT_NAME, read_checkpoint

    checkpoint = run_dir("vae", settings) / CHECKPOINT_NAME
    if not checkpoint.exists():
        raise ValueError(f"no trained VAE with z_dim={args.z_dim} under {checkpoint.parent.parent}; "
                         f"fix: python -m gengen_lib train vae --z-dim {args.z_dim}")  # fmt: skip
    done = read_checkpoint(checkpoint)[1]["epoch"]
    if done < settings.epochs:
        raise ValueError(f"the VAE run in {checkpoint.parent} stopped after {done} of {settings.epochs} epochs; "
                         f"fix: python -m gengen_lib train vae --z-dim {args.z_dim} (it resumes)")  # fmt: skip
    model, _ = vae.load_or_train_vae(settings, quiet=True)
    return vae.test_set_metrics(model, settings, k=args.k, n=args.n)


def _ship(args) -> dict:
    shipped = {}
    for name in args.names:
        entry = pretrained.pack(name, note=args.note)
        pretrained.record_metrics(name, pretrained.measure(name, k=args.k, n=args.n))
        shipped[name] = {"bytes": entry["bytes"], **pretrained.manifest()[name]["metrics"]}
    return shipped


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        runtime.configure_threads(getattr(args, "threads", None))  # else GENGEN_THREADS or the usable CPUs
        result = {"train": _train, "evaluate": _evaluate, "ship": _ship}[args.command](args)
    except (DataError, CheckpointError, NonFiniteError, pretrained.PretrainedError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        saved = str(e) or "interrupted"
        print(f"{saved}; run the same command again to resume", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
