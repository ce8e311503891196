"""Specification of gengen_lib.evaluate: the Fréchet distance and the classifier-based scores."""

from __future__ import annotations

import pytest
import torch

from gengen_lib import quality
from gengen_lib.data import intensities


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
    classifier = quality.load_or_train_classifier(settings, out_dir=tmp_path)
    assert classifier.test_accuracy > 0.9
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
