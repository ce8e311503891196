"""The shipped models: packed as float16 with their training record, verified on load."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from gengen_lib import pretrained, vae

MiB = 1 << 20
# Shipped names whose weights are still being trained (the loader trains them through runs/ meanwhile).
AWAITING_WEIGHTS = {"flow-matching"}


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """A quick VAE run packed under the name vae-z20 into a scratch weights folder."""
    root = tmp_path_factory.mktemp("pretrained")
    settings = vae.VAESettings.quick(z_dim=20, train_subset=512, epochs=2)
    model, history = vae.load_or_train_vae(settings, out_dir=root / "run", quiet=True, device=torch.device("cpu"))
    entry = pretrained.pack("vae-z20", run=root / "run", weights_dir=root / "weights")
    return root / "weights", model, history, entry


def test_a_packed_model_loads_with_its_weights_rounded_to_float16(packed):
    weights, model, history, _ = packed
    loaded, loaded_history = pretrained.load("vae-z20", weights_dir=weights)
    for key, value in model.state_dict().items():
        stored = loaded.state_dict()[key]
        assert stored.dtype == torch.float32, "computation stays float32"
        assert torch.equal(stored, value.half().float())
    assert loaded_history.curve("valid_elbo") == history.curve("valid_elbo")
    assert loaded_history.steps["elbo"] == pytest.approx(history.steps["elbo"], rel=1e-6)
    assert set(loaded_history.snapshots) == {"start", "half", "end"}
    assert (loaded_history.snapshots["end"] - history.snapshots["end"]).abs().max() <= 0.5 / 255 + 1e-6


def test_the_manifest_records_checksum_settings_and_command(packed):
    weights, _, _, entry = packed
    book = json.loads((weights / "manifest.json").read_text())
    assert book["vae-z20"] == entry
    assert entry["sha256"] == pretrained.sha256_of(weights / entry["file"])
    assert entry["command"] == "python -m gengen_lib train vae --epochs 2"
    assert entry["storage_dtype"] == "float16" and entry["epochs_trained"] == 2


def test_a_damaged_file_is_refused_in_one_line(packed, tmp_path):
    weights, _, _, entry = packed
    damaged = tmp_path / "weights"
    damaged.mkdir()
    (damaged / "manifest.json").write_bytes((weights / "manifest.json").read_bytes())
    data = bytearray((weights / entry["file"]).read_bytes())
    data[-100] ^= 0xFF
    (damaged / entry["file"]).write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match="does not match the sha256") as e:
        pretrained.load("vae-z20", weights_dir=damaged)
    assert "\n" not in str(e.value) and "fix: git checkout" in str(e.value)
    (damaged / entry["file"]).unlink()
    with pytest.raises(pretrained.PretrainedError, match="is missing"):
        pretrained.load("vae-z20", weights_dir=damaged)


def test_settings_name_their_shipped_model_whatever_the_epochs():
    assert pretrained.shipped_name(vae.VAESettings(z_dim=2, epochs=7)) == "vae-z2"
    assert pretrained.shipped_name(vae.VAESettings(z_dim=3)) is None
    assert pretrained.shipped_name(vae.VAESettings.quick(z_dim=20)) is None, "quick mode never uses shipped weights"


def test_the_shipped_models_are_complete_verified_and_small():
    book = pretrained.manifest()
    assert set(book) <= set(pretrained.SHIPPED), "every file in weights/ is a registered shipped model"
    assert set(pretrained.SHIPPED) - set(book) <= AWAITING_WEIGHTS, "every model a chapter uses ships"
    total = 0
    for name, entry in book.items():
        path = pretrained.WEIGHTS_DIR / entry["file"]
        assert pretrained.sha256_of(path) == entry["sha256"], name
        assert entry["metrics"], f"{name} has no measured metrics"
        total += path.stat().st_size
    assert total <= 80 * MiB, f"the shipped weights take {total / MiB:.1f} MiB"
    print(f"shipped weights: {total / MiB:.1f} MiB in {len(book)} files")


def test_the_recorded_command_names_the_options_that_differ_from_the_defaults(tmp_path):
    """vae-z2 is the default VAE but for its latent dimension: the command says exactly that."""
    settings = vae.VAESettings.quick(z_dim=2, train_subset=256, hidden=16, epochs=1)
    vae.load_or_train_vae(settings, out_dir=tmp_path / "run", quiet=True, device=torch.device("cpu"))
    entry = pretrained.pack("vae-z2", run=tmp_path / "run", weights_dir=tmp_path / "weights")
    assert entry["command"] == "python -m gengen_lib train vae --epochs 1 --z-dim 2"


def test_a_shipped_name_without_weights_yet_trains_through_the_runs_cache(monkeypatch):
    trained = []
    record = lambda settings, **options: trained.append((settings, options)) or "run"  # noqa: E731
    stub = dataclasses.replace(vae.FAMILY, train=record)
    monkeypatch.setattr(pretrained, "manifest", lambda weights_dir=pretrained.WEIGHTS_DIR: {})
    monkeypatch.setattr(pretrained.families, "family", lambda kind: stub)
    settings = vae.VAESettings(z_dim=2)
    assert pretrained.load_or_train("vae", settings, pretrained=True, quiet=True) == "run"
    assert trained == [(settings, {"quiet": True})]
    with pytest.raises(pretrained.PretrainedError, match="vae-z2 is not shipped yet.*ship vae-z2") as e:
        pretrained.load("vae-z2")
    assert "\n" not in str(e.value)
