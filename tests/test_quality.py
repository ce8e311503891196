"""Specification of gengen_lib.evaluate: the Fréchet distance and the classifier-based scores."""

from __future__ import annotations

import math

import pytest
import torch

from gengen_lib import quality
from gengen_lib.data import intensities

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)


def test_frechet_distance_of_identical_sets_is_zero_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2000, 8, generator=g, dtype=torch.float64)
    assert quality.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)
    assert quality.frechet_distance(f, f + 1.0) == pytest.approx(8.0, rel=1e-6), "||mu1 - mu2||^2 = 8"


def test_frechet_distance_between_two_known_gaussians():
    # N(0, I) vs N(0, 4 I) in 3-d: Tr(I + 4I - 2 * 2I) = 3
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    b = 2 * torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    assert quality.frechet_distance(a, b) == pytest.approx(3.0, abs=0.05)


def test_class_entropy_and_largest_share():
    balanced = quality.SampleQuality(0.0, 10.0, [10] * 10)
    collapsed = quality.SampleQuality(0.0, 1.0, [100] + [0] * 9)
    assert balanced.class_entropy == pytest.approx(2.302585, abs=1e-6)
    assert collapsed.class_entropy == 0.0 and collapsed.largest_class_share == 1.0


@pytest.mark.slow
def test_the_metric_tells_real_digits_from_noise(small_train, tmp_path):
    """On a quickly trained classifier: real vs real scores near 0, noise scores far away."""
    settings = quality.ClassifierSettings(epochs=1, train_subset=10_000)
    classifier, history = quality.load_or_train_classifier(settings, out_dir=tmp_path)
    assert history.epochs[-1]["test_accuracy"] > 0.9
    meter = quality.SampleQualityMeter(classifier)
    real = meter(intensities(small_train.images))
    noise = meter(torch.rand(512, 784))
    assert real.fid < 0.1 * noise.fid
    assert real.classifier_score > 5 and noise.classifier_score < real.classifier_score
    assert real.class_entropy > 2.2


def test_the_classifier_score_stays_finite_when_a_class_probability_underflows():
    """A collapsed generator: every image is a confident 3, so p(class 7) underflows to 0."""
    from gengen_lib import quality

    class Collapsed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))  # where the meter looks for the device

        def forward(self, x):
            logits = torch.full((len(x), 10), -200.0)
            logits[:, 3] = 200.0
            return logits

        def embed(self, x):
            return x[:, :128]

    meter = quality.SampleQualityMeter.__new__(quality.SampleQualityMeter)
    meter.classifier = Collapsed()
    meter.reference_features = torch.rand(50, 128, dtype=torch.float64)
    quality = meter(torch.rand(40, 784))
    assert quality.classifier_score == pytest.approx(1.0)
    assert quality.class_counts[3] == 40


def test_frechet_distance_agrees_with_an_independent_route_on_correlated_features():
    """tr sqrt(S1 S2) from the eigenvalues of the (non-symmetric) product S1 S2, not via S1^(1/2)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
    b = torch.randn(4000, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
    b = b + torch.arange(6, dtype=torch.float64)
    s1, s2 = torch.cov(a.T), torch.cov(b.T)
    cross = torch.linalg.eigvals(s1 @ s2).real.clamp(min=0).sqrt().sum()
    expected = (a.mean(0) - b.mean(0)).pow(2).sum() + s1.trace() + s2.trace() - 2 * cross
    assert quality.frechet_distance(a, b) == pytest.approx(expected.item(), rel=1e-6)


def test_frechet_distance_in_one_dimension_is_the_textbook_formula():
    g = torch.Generator().manual_seed(1)
    a = 2.0 + 3.0 * torch.randn(5000, 1, generator=g, dtype=torch.float64)
    b = -1.0 + 0.5 * torch.randn(5000, 1, generator=g, dtype=torch.float64)
    m1, m2, s1, s2 = a.mean(), b.mean(), a.std(), b.std()
    assert quality.frechet_distance(a, b) == pytest.approx(((m1 - m2) ** 2 + (s1 - s2) ** 2).item(), rel=1e-6)


# --- the meter on a hand-made classifier: every score by hand ---------------------------------


class ReadsItsAnswer(torch.nn.Module):
    """A stand-in classifier: its 10 logits are the first 10 pixels, its 128 features the first 128."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # where the meter looks for the device

    def forward(self, x):
        return x[:, :10]

    def embed(self, x):
        return x[:, :128]


def images_with_logits(*rows: list[float]) -> torch.Tensor:
    x = torch.zeros(len(rows), 784)
    for i, logits in enumerate(rows):
        x[i, : len(logits)] = torch.tensor(logits)
    return x


def test_the_classifier_score_and_class_counts_by_hand():
    """p(y|x) = (3/4, 1/4) and (1/4, 3/4): the marginal is (1/2, 1/2) and each KL is
    3/4 ln(3/2) + 1/4 ln(1/2); the score is exp of that mean."""
    rows = [[math.log(3.0), 0.0] + [-1e4] * 8, [0.0, math.log(3.0)] + [-1e4] * 8]
    x = images_with_logits(*rows)
    meter = quality.SampleQualityMeter(ReadsItsAnswer(), reference=x)
    q = meter(x)
    assert q.classifier_score == pytest.approx(math.exp(0.75 * math.log(1.5) + 0.25 * math.log(0.5)), rel=1e-6)
    assert q.class_counts == [1, 1] + [0] * 8
    assert q.fid == pytest.approx(0.0, abs=1e-9), "the same images as the reference"


def test_confident_and_diverse_samples_score_the_number_of_classes():
    x = images_with_logits(*[[0.0] * k + [50.0] for k in range(10)] * 3)  # three confident images of each digit
    q = quality.SampleQualityMeter(ReadsItsAnswer(), reference=x)(x)
    assert q.classifier_score == pytest.approx(10.0, rel=1e-6) and q.class_counts == [3] * 10


def test_the_meter_measures_the_frechet_distance_to_its_reference_features():
    """Features = the first 128 pixels: shifting every one of them by c moves the mean by c sqrt(128)."""
    reference = torch.rand(300, 784, generator=torch.Generator().manual_seed(0))
    meter = quality.SampleQualityMeter(ReadsItsAnswer(), reference=reference)
    assert meter.reference_features.dtype == torch.float64 and meter.reference_features.shape == (300, 128)
    assert meter(reference + 0.5).fid == pytest.approx(128 * 0.25, rel=1e-6)


def test_the_default_reference_is_the_test_set():
    meter = quality.SampleQualityMeter(ReadsItsAnswer())
    test_images = intensities(quality.load_mnist("test").images)
    assert torch.allclose(meter.reference_features, test_images[:, :128].double())


def test_the_summary_holds_every_score_of_the_images():
    x = images_with_logits([5.0, 0.0], [0.0, 5.0], [5.0, 0.0], [0.0, 0.0, 5.0])
    meter = quality.SampleQualityMeter(ReadsItsAnswer(), reference=x.flip(0) * 2)
    q, summary = meter(x), meter.summary(x)
    assert summary == {
        "fid": q.fid,
        "classifier_score": q.classifier_score,
        "class_entropy": q.class_entropy,
        "largest_class_share": 0.5,
        "class_counts": [2, 1, 1] + [0] * 7,
    }


def test_the_end_of_epoch_callback_scores_n_samples_drawn_from_its_seed():
    class Sampler(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))

        def sample(self, n, generator):
            return torch.randn(n, 1, 28, 28, generator=generator)

    reference = torch.rand(50, 784, generator=torch.Generator().manual_seed(0))
    meter = quality.SampleQualityMeter(ReadsItsAnswer(), reference=reference)
    scores = quality.sample_quality_callback(meter, n=40, seed=5)(Sampler())
    expected = meter.summary(torch.randn(40, 1, 28, 28, generator=torch.Generator().manual_seed(5)))
    assert scores == expected and sum(scores["class_counts"]) == 40


def test_accuracy_and_features_on_a_hand_made_classifier():
    x = images_with_logits([5.0, 0.0], [0.0, 5.0], [5.0, 0.0], [0.0, 0.0, 5.0]).reshape(4, 28, 28)
    assert quality.accuracy(ReadsItsAnswer(), x, torch.tensor([0, 1, 1, 2])) == 0.75
    f = quality.features(ReadsItsAnswer(), x)
    assert f.dtype == torch.float64 and torch.equal(f, x.reshape(4, 784)[:, :128].double())


def test_the_classifier_reads_flat_or_square_images():
    torch.manual_seed(0)
    model = quality.MNISTClassifier()
    x = torch.rand(3, 784)
    assert model.embed(x).shape == (3, 128) and model(x).shape == (3, 10)
    assert torch.equal(model(x), model(x.reshape(3, 28, 28)))
    assert torch.equal(model(x), model.head(model.embed(x)))


def test_the_classifier_is_two_conv_blocks_and_a_128_d_relu_feature_layer():
    """Each block: 3 x 3 convolution keeping the size (padding 1), ReLU, 2 x 2 max-pool: 28 -> 14 -> 7."""
    model = quality.MNISTClassifier()
    kinds = [type(m).__name__ for m in model.conv]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d"] * 2
    convs = [m for m in model.conv if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (1, 1))]  # fmt: skip
    assert [type(m).__name__ for m in model.features] == ["Flatten", "Linear", "ReLU"]
    assert model.embed(torch.rand(4, 784) - 0.5).min() >= 0, "features are ReLU outputs"



class RecordsItsInputDevice(ReadsItsAnswer):
    """Weights on the 'meta' device (standing in for a GPU); answers on the CPU; remembers where its inputs were."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1, device="meta"))
        self.seen = set()

    def forward(self, x):
        self.seen.add(x.device.type)
        return torch.zeros(len(x), 10)

    def embed(self, x):
        self.seen.add(x.device.type)
        return torch.zeros(len(x), 128)


def test_images_are_moved_to_the_classifiers_device():
    x = torch.rand(4, 784)
    for measure in (lambda c: quality.accuracy(c, x, torch.zeros(4)), lambda c: quality.features(c, x),
                    lambda c: quality.SampleQualityMeter(c, reference=x)(x)):  # fmt: skip
        classifier = RecordsItsInputDevice()
        measure(classifier)
        assert classifier.seen == {"meta"}
