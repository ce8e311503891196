"""Benchmarks: prints figures and writes them to bench/RESULTS.md. Never a pass/fail test.

    .venv/bin/python bench/bench.py                 # input pipeline, flow FLOP rate, peak memory, book build
    .venv/bin/python bench/bench.py --quick         # smaller samples (a minute or two)

What it measures, on whatever machine runs it:

1. Input pipeline: seconds per epoch of the VAE and of the flow when fed by gengen_lib's
   in-memory batching (index slices of one tensor) versus the usual
   ``torchvision.datasets.MNIST`` + ``transforms`` + ``DataLoader`` pipeline over the same
   images (written to a temporary folder in torchvision's file format), same model, same
   number of steps, measured side by side in this run.
2. Flow training: achieved GFLOP/s (from a count of the model's multiply-adds) against this
   machine's fp32 matmul rate measured in the same run, for the packed couplings of
   ``gengen_lib.flows`` and the textbook masked ones side by side; and the rate of the VAE's
   importance-sampling estimator.
3. Peak memory (largest process, RSS) of one full-setting training epoch of each model and
   of a book build, each in a fresh process.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gengen_lib import data, flows, vae  # noqa: E402
from gengen_lib.flows import bits_per_dim  # noqa: E402


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


# ---------------------------------------------------------------------------------------
# 1. Input pipeline
# ---------------------------------------------------------------------------------------


def write_torchvision_files(root: Path) -> None:
    """Write the training split in torchvision's MNIST layout (raw idx files)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    train = data.load_mnist("train")
    images, labels = train.images.numpy(), train.labels.numpy().astype("uint8")
    header = (2051).to_bytes(4, "big") + len(images).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    label_header = (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big")
    for split in ("train", "t10k"):  # torchvision checks that the test files exist too
        (raw / f"{split}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(label_header + labels.tobytes())


def torchvision_loader(root: Path, view: str, batch_size: int, n: int):
    from torchvision import datasets, transforms

    to_vector = [transforms.ToTensor(), transforms.Lambda(lambda x: x.flatten())]
    if view == "binary":
        to_vector.append(transforms.Lambda(lambda x: torch.bernoulli(x)))
    else:  # dequantized, as the flow sees it
        to_vector.append(transforms.Lambda(lambda x: (x * 255 + torch.rand_like(x)) / 256))
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transforms.Compose(to_vector))
    subset = torch.utils.data.Subset(dataset, range(n))
    return torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=True)


def time_epoch(batches, train_step) -> float:
    start = time.perf_counter()
    for x in batches:
        train_step(x)
    return time.perf_counter() - start


def input_pipeline(n: int, root: Path) -> dict:
    results = {}
    images = data.load_mnist("train").images[:n]
    torch.manual_seed(0)
    model = vae.VAE()
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def vae_step(x):
        loss = model(x)
        opt.zero_grad()
        loss.backward()
        opt.step()

    binary = data.binarize(images)
    ours = time_epoch((b for (b,) in data.batches(binary, batch_size=128)), vae_step)
    theirs = time_epoch((x for x, _ in torchvision_loader(root, "binary", 128, n)), vae_step)
    results["vae"] = (ours, theirs)

    flow = flows.RealNVP(hidden=flows.FlowSettings().hidden)
    fopt = torch.optim.Adam(flow.parameters(), 1e-3)

    def flow_step(x):
        loss = bits_per_dim(flow.log_prob(x)).mean()
        fopt.zero_grad()
        loss.backward()
        fopt.step()

    m = n // 5  # the flow is ~20x costlier per image
    g = torch.Generator().manual_seed(0)
    ours = time_epoch((data.dequantize(b, g) for (b,) in data.batches(images[:m], batch_size=128)), flow_step)
    theirs = time_epoch((x for x, _ in torchvision_loader(root, "dequantized", 128, m)), flow_step)
    results["flow"] = (ours, theirs)
    results["sizes"] = (n, m)
    return results


# ---------------------------------------------------------------------------------------
# 2. Flow FLOP rate
# ---------------------------------------------------------------------------------------


def flow_forward_flops(model: nn.Module) -> int:
    """Multiply-adds x 2 of every Linear layer for one example's forward pass."""
    return sum(2 * m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))


class MaskedCoupling(nn.Module):
    """The textbook coupling, kept here only as the benchmark's reference: its network reads
    all D inputs (half of them zeroed by the mask) and writes D scales and shifts (half of
    them discarded). ``flows.AffineCoupling`` computes the same function on packed halves."""

    def __init__(self, mask: torch.Tensor, hidden: int):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask.float())
        self.trunk = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.t_head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.s_head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.s_scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        h = self.trunk(x * self.mask)
        free = 1.0 - self.mask
        s = self.s_scale * torch.tanh(self.s_head(h)) * free
        return x * torch.exp(s) + self.t_head(h) * free, s.sum(-1)


def masked_flow(hidden: int) -> flows.RealNVP:
    model = flows.RealNVP(hidden=hidden)
    model.couplings = nn.ModuleList(MaskedCoupling(c.mask, hidden) for c in model.couplings)
    return model


def flow_rate(model: nn.Module, steps: int) -> tuple[float, float, float]:
    """Training steps of batch 128: (achieved GFLOP/s, images/s, seconds per 50,000-image epoch)."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = data.dequantize(data.load_mnist("train").images[:128], torch.Generator().manual_seed(0))

    def step():
        loss = bits_per_dim(model.log_prob(x)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    flops = 3 * flow_forward_flops(model) * 128 * steps  # backward ~ 2x forward
    return flops / seconds / 1e9, 128 * steps / seconds, seconds / steps * 50_000 / 128


def importance_sampling_rate(k: int) -> tuple[float, float]:
    """The VAE's importance-sampling estimator on 100 test images: (achieved GFLOP/s, seconds)."""
    torch.manual_seed(0)
    model = vae.VAE(20, 500).eval()
    x = data.binarize(data.load_mnist("test").images[:100])
    vae.log_likelihood(model, x, k=100)
    start = time.perf_counter()
    vae.log_likelihood(model, x, k=k)
    seconds = time.perf_counter() - start
    decoder_flops = 2 * (20 * 500 + 500 * 784)
    return decoder_flops * len(x) * k / seconds / 1e9, seconds


# ---------------------------------------------------------------------------------------
# 3. Peak memory, each in a fresh process
# ---------------------------------------------------------------------------------------


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """Run ``command`` under a fresh Python that reports its children's peak RSS; (MB, seconds)."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True, cwd=ROOT)
    mb, seconds = out.stdout.split()
    return float(mb), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    args = parser.parse_args()
    n, steps = (5000, 10) if args.quick else (20_000, 40)
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}, torch {torch.__version__}. Date: {datetime.date.today()}.",
        "Rerun: `.venv/bin/python bench/bench.py` (add `--quick` for a smaller sample).",
        "",
    ]

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    peak = matmul_gflops()
    say(f"fp32 matmul (2048 x 2048): {peak:.1f} GFLOP/s")
    say()
    with tempfile.TemporaryDirectory() as tmp:
        write_torchvision_files(Path(tmp))
        pipe = input_pipeline(n, Path(tmp))
    say("## Input pipeline (same model and steps; seconds per epoch scaled to 50,000 images)")
    say()
    say("| model | images timed | gengen_lib batching | torchvision Dataset + DataLoader | speed-up |")
    say("|---|---|---|---|---|")
    for name, size in zip(("vae", "flow"), pipe["sizes"], strict=True):
        ours, theirs = pipe[name]
        per_epoch = [t * 50_000 / size for t in (ours, theirs)]
        say(f"| {name} | {size:,} | {per_epoch[0]:.1f} s | {per_epoch[1]:.1f} s | {theirs / ours:.2f}x |")
    say()
    hidden = flows.FlowSettings().hidden
    masked = flow_rate(masked_flow(hidden), steps)
    packed = flow_rate(flows.RealNVP(hidden=hidden), steps)
    say(f"## Flow training: packed vs masked couplings, side by side (batch 128, hidden {hidden})")
    say()
    say("| coupling | GFLOP/s achieved | of the matmul rate | images/s | s per epoch | speed-up |")
    say("|---|---|---|---|---|---|")
    for name, (gflops, ips, epoch) in (("masked (784-wide)", masked), ("packed (392 in, 2 x 392 out)", packed)):
        say(f"| {name} | {gflops:.1f} | {gflops / peak:.0%} | {ips:.0f} | {epoch:.0f} | {masked[2] / epoch:.2f}x |")
    say()
    is_gflops, is_seconds = importance_sampling_rate(500 if args.quick else 2000)
    say("## VAE importance-sampling estimator (decoder multiply-adds only)")
    say()
    say(f"{is_gflops:.1f} GFLOP/s achieved = {is_gflops / peak:.0%} of the matmul rate "
        f"({is_seconds:.1f} s for 100 images, k = {500 if args.quick else 2000}); "
        "memory bounded by chunk_rows x 784 floats")
    if not args.no_memory:
        say()
        say("## Peak memory (largest process RSS) and wall time, one full-setting epoch each, fresh process")
        say()
        say("| run | peak RSS | wall |")
        say("|---|---|---|")
        py = str(ROOT / ".venv" / "bin" / "python")
        with tempfile.TemporaryDirectory() as tmp:
            runs = {
                "VAE, 1 epoch": [
                    py,
                    "-m",
                    "gengen_lib",
                    "train",
                    "vae",
                    "--epochs",
                    "1",
                    "--out",
                    f"{tmp}/v",
                    "--quiet",
                ],
                "GAN, 1 epoch": [
                    py,
                    "-m",
                    "gengen_lib",
                    "train",
                    "gan",
                    "--epochs",
                    "1",
                    "--out",
                    f"{tmp}/g",
                    "--quiet",
                ],
                "flow, 1 epoch": [
                    py,
                    "-m",
                    "gengen_lib",
                    "train",
                    "flow",
                    "--epochs",
                    "1",
                    "--out",
                    f"{tmp}/f",
                    "--quiet",
                ],
                "book build": [str(ROOT / ".venv" / "bin" / "jupyter-book"), "build", str(ROOT), "--path-output", tmp],
            }
            for name, command in runs.items():
                mb, seconds = peak_rss_mb(command)
                say(f"| {name} | {mb:,.0f} MB | {seconds:.0f} s |")
    results = ROOT / "bench" / "RESULTS.md"
    learner = ""  # bench/learner.py's section survives a rerun of this script
    if results.exists() and "<!-- learner -->" in results.read_text():
        old = results.read_text()
        end = old.index("<!-- /learner -->") + len("<!-- /learner -->")
        learner = "\n" + old[old.index("<!-- learner -->") : end] + "\n"
    results.write_text("\n".join(lines) + "\n" + learner)
    print(f"\nwritten to {ROOT / 'bench' / 'RESULTS.md'}")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
