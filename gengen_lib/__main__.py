"""Command line: train the course's models and evaluate them.

    python -m gengen_lib train vae --epochs 100
    python -m gengen_lib train flow --fixed-scale
    python -m gengen_lib train gan --dropout 0 --real-target one
    python -m gengen_lib evaluate vae --k 5000
    python -m gengen_lib evaluate flow_matching --n 1000
    python -m gengen_lib ship vae-z20          (maintainers: pack a finished run into weights/)

Runs are stored under runs/ (or --out) by their settings; a repeated command resumes the
unfinished run or loads the finished one. Errors print one line on stderr and exit with
status 1; usage mistakes exit with 2 and Ctrl-C with 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

try:  # importing torch takes seconds: a Ctrl-C then is one line too, not a traceback
    import torch

    from . import instructor, options, pretrained, runtime, vae
    from .checkpoints import CheckpointError
    from .data import DataError
    from .families import FAMILIES, SHIPPED
    from .options import count, positive_int
    from .training import NonFiniteError
except KeyboardInterrupt:
    print("interrupted: nothing was saved", file=sys.stderr)
    raise SystemExit(130) from None


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


def _threads(text: str) -> int:
    value = positive_int(text)
    limit = 4 * (os.cpu_count() or 1)
    if value > limit:
        raise argparse.ArgumentTypeError(
            f"{value} threads on a machine with {os.cpu_count()} CPUs; use at most {limit}"
        )
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


def _common_options() -> argparse.ArgumentParser:
    """The options of every ``train`` command: where and how to run, not what to train."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("running")
    group.add_argument("--out", type=_path, help="run directory (default: runs/<model>-<hash of the settings>)")
    group.add_argument("--quick", action="store_true", help="a small subset and few epochs (as in CI)")
    group.add_argument("--skip-nonfinite", action="store_true", help="skip batches whose loss or gradient is NaN/inf")
    group.add_argument("--threads", type=_threads, help="CPU threads for torch")
    group.add_argument("--device", type=_device, help="cpu or cuda (default: cuda when available)")
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gengen_lib", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train (or resume) a model", description="Train, resume or load a model.")
    models = train.add_subparsers(dest="model", required=True, metavar="model",
                                  help=" | ".join(FAMILIES))  # fmt: skip
    common = _common_options()
    for family in FAMILIES.values():
        sub = models.add_parser(family.name, parents=[common], help=family.summary,
                                description=f"Train, resume or load the {family.summary}.")  # fmt: skip
        options.add_settings_options(sub.add_argument_group(f"{family.name} settings"), family.settings)

    ev = commands.add_parser(
        "evaluate", help="evaluate a trained model",
        description="vae: test-set ELBO and importance-sampled log-likelihood (nats) of the shipped model "
        "(weights/), or with --trained of the one trained under runs/. flow_matching: test-set bits/dim of the "
        "shipped model by its likelihood ODE (rk4, Hutchinson's trace), with a standard error; --record "
        "stores it in weights/manifest.json.",
    )  # fmt: skip
    ev.add_argument("model", choices=["vae", "flow_matching"])
    ev.add_argument("--k", type=positive_int, default=5000, help="vae: importance samples per test image")
    ev.add_argument("--n", type=positive_int, help="number of test images (default: all 10,000)")
    ev.add_argument("--z-dim", type=count, default=20, help="vae: the latent size of the model")
    ev.add_argument("--trained", action="store_true",
                    help="vae: evaluate the run trained under runs/, not the shipped one")  # fmt: skip
    ev.add_argument("--record", action="store_true",
                    help="flow_matching: store the test bits/dim in weights/manifest.json (maintainers)")  # fmt: skip
    ev.add_argument("--threads", type=_threads)

    ship = commands.add_parser(
        "ship", help="pack finished runs into weights/ (maintainers)",
        description="Pack the finished runs of shipped models into weights/ as float16, measure them on the "
        "rounded weights and record everything in weights/manifest.json.",
    )  # fmt: skip
    ship.add_argument("names", nargs="+", choices=list(SHIPPED), metavar="NAME",
                      help=f"one or more of: {', '.join(SHIPPED)}")  # fmt: skip
    ship.add_argument("--k", type=positive_int, default=5000, help="VAE: importance samples per test image")
    ship.add_argument("--n", type=positive_int, help="VAE: number of test images (default: all 10,000)")
    ship.add_argument("--threads", type=_threads)
    ship.add_argument("--samples", type=positive_int, default=10_000,
                      help="generators: samples scored for MNIST-FID and the class histogram")  # fmt: skip
    ship.add_argument("--note", default="", help="a remark for the manifest (e.g. why a run stopped early)")
    ship.add_argument("--remeasure", action="store_true",
                      help="measure the weights already in weights/ again (no run needed, nothing packed)")  # fmt: skip
    instructor.add_commands(commands)
    return parser


def _train(args) -> dict:
    family = FAMILIES[args.model]
    settings = options.chosen_settings(family.settings, args, args.quick)
    device = args.device or runtime.pick_device()
    with torch.device("meta"):  # count the parameters without allocating them
        _check_memory(family.build(settings), device)
    extras = family.training_extras(settings, args.quick, device, args.out, pretrained.load_or_train)
    _, history = family.train(settings, device=device, out_dir=args.out, quiet=args.quiet,
                              skip_nonfinite=args.skip_nonfinite, **extras)  # fmt: skip
    return {k: v for k, v in history.epochs[-1].items() if not isinstance(v, list)}


def _evaluate(args) -> dict:
    if args.model == "flow_matching":
        return _evaluate_flow_matching(args)
    settings = vae.VAESettings(z_dim=args.z_dim)
    name = pretrained.shipped_name(settings)
    if not args.trained and name in pretrained.manifest():
        model, _ = pretrained.load(name)
        print(f"evaluating the shipped model weights/{name}.safetensors", file=sys.stderr)
        return vae.test_set_metrics(model, settings, k=args.k, n=args.n, cache=False)
    from .checkpoints import CHECKPOINT_NAME, read_checkpoint
    from .runs import run_dir

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


def _evaluate_flow_matching(args) -> dict:
    """Test-set bits/dim of the shipped flow-matching model (first ``--n`` images), recorded with ``--record``."""
    from . import flow_matching

    if args.trained:
        raise ValueError("evaluate flow_matching measures the shipped model only; "
                         "fix: python -m gengen_lib ship flow-matching packs and measures a trained run")  # fmt: skip
    name = "flow-matching"
    model, _ = pretrained.load(name)
    print(f"evaluating the shipped model weights/{name}.safetensors", file=sys.stderr)
    solver = flow_matching.LIKELIHOOD_SOLVER
    result = {**flow_matching.bits_per_dim_on_test_images(model, args.n or 10_000, progress=True, **solver),
              "solver": dict(solver)}  # fmt: skip
    if args.record:
        metrics = pretrained.manifest()[name].get("metrics", {})
        pretrained.record_metrics(name, {**metrics, "test_bpd": result})
    return result


def _ship(args) -> dict:
    import time

    shipped = {}
    for name in args.names:
        entry = pretrained.manifest()[name] if args.remeasure else pretrained.pack(name, note=args.note)
        start = time.perf_counter()
        metrics = pretrained.measure(name, k=args.k, n=args.n, samples=args.samples)
        pretrained.record_metrics(name, {**metrics, "measure_seconds": round(time.perf_counter() - start, 1)})
        shipped[name] = {"bytes": entry["bytes"], **pretrained.manifest()[name]["metrics"]}
    return shipped


def _refuse_other_options(parser: argparse.ArgumentParser, args, unknown: list[str]) -> None:
    """Options that the chosen command does not take: one line naming the ones it does take."""
    if not unknown:
        return
    if args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    family = FAMILIES[args.model]
    given = [u.split("=")[0] for u in unknown if u.startswith("-")] or unknown
    others = [name for name, f in FAMILIES.items() if any(g[2:].replace("-", "_") in _fields(f) for g in given)]
    where = f" (an option of {', '.join(others)})" if others else ""
    own = " ".join(options.flag(name) for name in _fields(family))
    verb = "does" if len(given) == 1 else "do"
    parser.exit(2, f"error: {' '.join(given)} {verb} not apply to {family.name}{where}; its settings are {own}; "
                   f"fix: see python -m gengen_lib train {family.name} --help\n")  # fmt: skip


def _fields(family) -> list[str]:
    return [f.name for f in dataclasses.fields(family.settings)] + list(family.settings.ALIASES)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    _refuse_other_options(parser, args, unknown)
    try:
        runtime.configure_threads(getattr(args, "threads", None))  # else GENGEN_THREADS or the usable CPUs
        result = ({"train": _train, "evaluate": _evaluate, "ship": _ship}.get(args.command) or args.handler)(args)
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
