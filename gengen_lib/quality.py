"""Sample quality without a download: an MNIST classifier and the scores built on it.

No Inception network can be fetched offline, so we train a small convolutional MNIST
classifier once (cached under ``runs/``) and use it the way FID and the Inception Score use
Inception:

* **MNIST-FID**: the Fréchet distance between Gaussians fitted to the classifier's
  128-d penultimate features of generated and of real test images (0 = same statistics);
* **classifier score**: exp(E_x KL(p(y|x) || p(y))), between 1 and 10 (confident and
  diverse samples score high);
* **class histogram**: how often each digit is generated (mode collapse made visible),
  and its entropy in nats (ln 10 = 2.303 for perfectly balanced classes).

All inputs are images with values in [0, 1], shape (N, 784) or (N, 28, 28).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .data import IMAGE_SHAPE, intensities, load_mnist
from .family import Family, MeasureOptions
from .runs import MNIST_TRAINING_HELP, RunSettings
from .runtime import pick_device
from .training import History, fit_run, optimizer_step


class MNISTClassifier(nn.Module):
    """Two conv blocks and a 128-d feature layer: (N, 784) in [0, 1] -> (N, 10) logits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 784) -> (N, 128) penultimate features."""
        return self.features(self.conv(x.reshape(-1, 1, *IMAGE_SHAPE)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


@dataclass(frozen=True)
class ClassifierSettings(RunSettings):
    """The MNIST classifier behind the sample-quality metrics (Adam 1e-3, batch 128, 8 epochs)."""

    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 8
    seed: int = 0
    train_subset: int | None = None

    # The CI setting: 5,000 images, 1 epoch (about 85% accuracy: enough to exercise the code).
    QUICK: ClassVar[dict] = {"epochs": 1, "train_subset": 5000}
    HELP: ClassVar[dict[str, str]] = dict(MNIST_TRAINING_HELP)  # its settings are all training ones


def build_classifier(settings: ClassifierSettings) -> MNISTClassifier:
    return MNISTClassifier()


def load_or_train_classifier(
    settings: ClassifierSettings = ClassifierSettings(), device: torch.device | None = None, quiet: bool = True,
    **options,
) -> tuple[MNISTClassifier, History]:  # pragma: no mutate block (training recipe)
    """Train (or resume, or load) the classifier on the training images; returns (model, history).

    Each epoch records the training ``loss`` (cross-entropy, nats) and ``test_accuracy`` (all
    10,000 test images). ``options`` go to :func:`~gengen_lib.training.fit_run`: ``out_dir``, ``skip_nonfinite``.
    """
    device = device or pick_device()
    torch.manual_seed(settings.seed)
    model = build_classifier(settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    train = load_mnist("train").subset(settings.train_subset)
    x, y = intensities(train.images).to(device), train.labels.to(device)
    test = load_mnist("test")

    def step(batch):
        xb, yb = batch
        loss = F.cross_entropy(model(xb), yb)
        optimizer_step(optimizer, loss)
        return {"loss": loss.item()}

    def evaluate():
        return {"test_accuracy": accuracy(model, intensities(test.images), test.labels)}

    history = fit_run("classifier", settings, model, {"adam": optimizer}, step, (x, y), evaluate=evaluate,
                      quiet=quiet, **options)  # fmt: skip
    model.eval()
    return model, history


def _batched(fn, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    with torch.no_grad():
        x = x.reshape(len(x), -1).float()
        return torch.cat([fn(b) for b in x.split(batch_size)])


def accuracy(model: MNISTClassifier, x: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of images whose predicted class is the label."""
    device = next(model.parameters()).device
    predictions = _batched(lambda b: model(b.to(device)).argmax(-1).cpu(), x)
    return (predictions == labels.cpu()).float().mean().item()


def features(model: MNISTClassifier, x: torch.Tensor) -> torch.Tensor:
    """(N, 784) images in [0, 1] -> (N, 128) float64 features."""
    device = next(model.parameters()).device
    return _batched(lambda b: model.embed(b.to(device)).cpu(), x).double()


def frechet_distance(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between Gaussians fitted to two feature sets."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = torch.atleast_2d(torch.cov(f1.T)), torch.atleast_2d(torch.cov(f2.T))
    evals, evecs = torch.linalg.eigh(s1)
    root1 = evecs @ torch.diag(evals.clamp(min=0).sqrt()) @ evecs.T
    cross = torch.linalg.eigvalsh(root1 @ s2 @ root1).clamp(min=0).sqrt().sum()
    distance = ((mu1 - mu2).pow(2).sum() + s1.trace() + s2.trace() - 2 * cross).item()
    return max(distance, 0.0)  # rounding can make a zero distance come out as -1e-12


@dataclass
class SampleQuality:
    """Scores of a set of images against real test images."""

    fid: float
    classifier_score: float
    class_counts: list[int]

    @property
    def class_entropy(self) -> float:
        """Entropy (nats) of the predicted-class histogram; ln 10 = 2.303 when balanced."""
        p = torch.tensor(self.class_counts, dtype=torch.float64)
        p = p / p.sum()
        return -(p[p > 0] * p[p > 0].log()).sum().item()

    @property
    def largest_class_share(self) -> float:
        return max(self.class_counts) / sum(self.class_counts)


class SampleQualityMeter:
    """Scores images with a trained classifier against the real test set (features cached)."""

    def __init__(self, classifier: MNISTClassifier, reference: torch.Tensor | None = None):
        self.classifier = classifier
        reference = intensities(load_mnist("test").images) if reference is None else reference
        self.reference_features = features(classifier, reference)

    def __call__(self, x: torch.Tensor) -> SampleQuality:
        """x: (N, 784) or (N, 28, 28) images with values in [0, 1]."""
        device = next(self.classifier.parameters()).device
        probs = _batched(lambda b: F.softmax(self.classifier(b.to(device)), -1).cpu(), x).double()
        marginal = probs.mean(0, keepdim=True)
        # p log(p / m), with 0 log 0 = 0: a class whose probability underflowed to 0 in every
        # image (a collapsed generator) has m = 0 too, and contributes nothing, not NaN
        terms = torch.where(probs > 0, probs * (probs.log() - marginal.clamp_min(1e-300).log()), 0.0)
        kl = terms.sum(-1).mean().item()
        counts = torch.bincount(probs.argmax(-1), minlength=10).tolist()
        return SampleQuality(
            frechet_distance(features(self.classifier, x), self.reference_features), math.exp(kl), counts
        )

    def summary(self, x: torch.Tensor) -> dict:
        """The scores of ``x`` as a plain dict (for training histories and tables)."""
        q = self(x)
        return {
            "fid": q.fid,
            "classifier_score": q.classifier_score,
            "class_entropy": q.class_entropy,
            "largest_class_share": q.largest_class_share,
            "class_counts": q.class_counts,
        }


def sample_quality(model: nn.Module, meter: SampleQualityMeter, samples: int = 10_000, seed: int = 0,
                   **sample_options) -> dict:  # fmt: skip
    """:meth:`SampleQualityMeter.summary` of ``samples`` draws of ``model`` (in blocks of 1,000, from ``seed``).

    The one measurement of a model's sample quality: packing records it in the manifest, and the chapters
    call it with the same seed on the same shipped weights, so every page quotes the same numbers.
    ``sample_options`` go to ``model.sample`` (e.g. ``binary=True`` for the VAE's coin flips).
    """
    model = copy.deepcopy(model).cpu()  # CPU draws from a CPU generator, whatever device the model is on
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        images = torch.cat([model.sample(min(1000, samples - start), generator=generator, **sample_options).cpu()
                            for start in range(0, samples, 1000)])  # fmt: skip
    return meter.summary(images)


def shipped_sample_quality(model: nn.Module, options: MeasureOptions) -> dict:
    """:func:`sample_quality` of ``options.samples`` draws, scored by ``options.classifier()`` (a packed model's)."""
    return sample_quality(model, SampleQualityMeter(options.classifier()), options.samples)


def sample_quality_callback(meter: SampleQualityMeter, n: int = 2000, seed: int = 0):
    """An end-of-epoch ``evaluate(model)`` for training loops: scores n samples from a fixed seed."""

    def callback(model) -> dict:
        device = next(model.parameters()).device
        samples = model.sample(n, generator=torch.Generator(device=device).manual_seed(seed))
        return meter.summary(samples.cpu())

    return callback


# ---------------------------------------------------------------------------------------
# The family's record (gengen_lib.families)
# ---------------------------------------------------------------------------------------


def _measure(model: MNISTClassifier, settings: ClassifierSettings, options: MeasureOptions) -> dict:
    test = load_mnist("test")
    return {"test_accuracy": accuracy(model, intensities(test.images), test.labels)}


FAMILY = Family(
    name="classifier",
    summary="the MNIST classifier behind the sample-quality scores (MNIST-FID)",
    settings=ClassifierSettings,
    build=build_classifier,
    train=load_or_train_classifier,
    measure=_measure,
    shipped={"classifier": ClassifierSettings()},
)
