"""The shipped models: packed as float16 with their training record, verified on load."""

from __future__ import annotations

import json
import os

import pytest
import torch

from gengen_lib import pretrained, vae

MiB = 1 << 20
# Shipped names whose weights are still being trained (the loader trains them through runs/ meanwhile).
AWAITING_WEIGHTS: set[str] = set()  # registered models whose weights are not packed yet


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


# --- a damaged manifest or file is one line, never a silent training --------------------------

from gengen_lib.data import sha256_of  # noqa: E402


def copy_of(packed, tmp_path):
    """A scratch weights folder with the packed vae-z20 and its manifest."""
    weights, _, _, entry = packed
    out = tmp_path / "weights"
    out.mkdir()
    for name in ("manifest.json", entry["file"]):
        (out / name).write_bytes((weights / name).read_bytes())
    return out


def set_entry(weights, name, **changes):
    book = json.loads((weights / "manifest.json").read_text())
    book[name] = {**book.get(name, book["vae-z20"]), **changes}
    (weights / "manifest.json").write_text(json.dumps(book))


MANIFESTS = {
    "deleted": None,
    "empty": "",
    "a list": "[]",
    "no models": "{}",
    "truncated": '{"vae-z20": {"file": "vae-z20.safet',
    "an entry without a file": '{"vae-z20": {"sha256": "' + "0" * 64 + '"}}',
    "an entry without a sha256": '{"vae-z20": {"file": "vae-z20.safetensors"}}',
    "a file outside weights/": '{"vae-z20": {"file": "../runs/x.safetensors", "sha256": "' + "0" * 64 + '"}}',
    "a directory": "DIR",
    "a FIFO (reading it would wait forever)": "FIFO",
}


@pytest.mark.parametrize("text", MANIFESTS.values(), ids=MANIFESTS.keys())
def test_a_damaged_manifest_is_one_line_with_the_fix(packed, tmp_path, text):
    weights = copy_of(packed, tmp_path)
    path = weights / "manifest.json"
    path.unlink()
    if text == "DIR":
        path.mkdir()
    elif text == "FIFO":
        os.mkfifo(path)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(pretrained.PretrainedError, match=r"weights/manifest.json .*fix: git checkout") as e:
        pretrained.load("vae-z20", weights_dir=weights)
    assert "\n" not in str(e.value)


def test_a_manifest_without_the_asked_model_names_it(packed, tmp_path):
    weights = copy_of(packed, tmp_path)
    with pytest.raises(pretrained.PretrainedError, match="has no entry for 'vae-z2'.*fix: git checkout"):
        pretrained.load("vae-z2", weights_dir=weights)


def test_asking_for_a_shipped_model_never_falls_back_to_training(monkeypatch):
    def broken(name, device="cpu"):
        raise pretrained.PretrainedError("weights/manifest.json is missing")

    monkeypatch.setattr(pretrained, "load", broken)
    monkeypatch.setattr(vae, "load_or_train_vae", lambda *a, **k: pytest.fail("it trained"))
    with pytest.raises(pretrained.PretrainedError, match="missing"):
        pretrained.load_or_train("vae", vae.VAESettings(z_dim=20), pretrained=True)


def test_two_files_swapped_together_with_their_checksums_are_caught(packed, tmp_path):
    weights = copy_of(packed, tmp_path)
    (weights / "vae-z2.safetensors").write_bytes((weights / "vae-z20.safetensors").read_bytes())
    set_entry(weights, "vae-z2", file="vae-z2.safetensors", sha256=sha256_of(weights / "vae-z2.safetensors"))
    with pytest.raises(pretrained.PretrainedError, match="holds the model 'vae-z20', not 'vae-z2'"):
        pretrained.load("vae-z2", weights_dir=weights)


def _rewrite(weights, file, edit_tensors=None, metadata=None):
    from safetensors.torch import load_file, save

    path = weights / file
    with open(path, "rb") as f:
        old = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    tensors = load_file(str(path))
    if edit_tensors:
        edit_tensors(tensors)
    path.write_bytes(save(tensors, metadata=metadata(old) if metadata else old))
    set_entry(weights, "vae-z20", sha256=sha256_of(path))


def test_nan_weights_with_a_matching_checksum_are_refused(packed, tmp_path):
    weights = copy_of(packed, tmp_path)
    _rewrite(weights, "vae-z20.safetensors", lambda t: t["model/decoder.0.weight"].fill_(float("nan")))
    with pytest.raises(pretrained.PretrainedError, match="holds NaN or inf in decoder.0.weight"):
        pretrained.load("vae-z20", weights_dir=weights)


def test_a_file_of_the_first_format_without_its_name_still_loads(packed, tmp_path):
    weights = copy_of(packed, tmp_path)
    _rewrite(weights, "vae-z20.safetensors",
             metadata=lambda old: {"format": "gengen-pretrained-1", "state": old["state"]})  # fmt: skip
    model, _ = pretrained.load("vae-z20", weights_dir=weights)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_packing_a_model_that_was_never_trained_names_the_command(tmp_path):
    with pytest.raises(pretrained.PretrainedError, match="no trained run of vae-z2 .*fix: python -m gengen_lib train"):
        pretrained.pack("vae-z2", run=tmp_path / "none", weights_dir=tmp_path / "weights")


def test_a_gan_is_scored_by_the_shipped_classifier_not_by_one_trained_for_it(monkeypatch, tmp_path):
    from gengen_lib import gan

    monkeypatch.setenv("GENGEN_RUNS", str(tmp_path))  # a classifier trained through the runs cache would land here
    loaded = []
    load = pretrained.load
    monkeypatch.setattr(pretrained, "load", lambda name, device="cpu": loaded.append(name) or load(name, device))
    evaluate = gan.FAMILY.training_extras(gan.GANSettings(), False, None, None, pretrained.load_or_train)["evaluate"]
    assert loaded == ["classifier"], "the yardstick of the book's scores"
    assert not any(tmp_path.iterdir()), "no classifier was trained"
    torch.manual_seed(0)
    scores = evaluate(gan.build_gan(gan.GANSettings()).eval())
    assert scores["fid"] > 0 and sum(scores["class_counts"]) == 2000, "2,000 samples scored"


def test_a_quick_gan_is_scored_by_the_quick_classifier_kept_in_its_own_run_folder(tmp_path):
    from gengen_lib import gan, quality

    asked = []

    def load_or_train(kind, settings, **options):
        asked.append((kind, settings, options))
        return quality.build_classifier(settings), None

    extras = gan.FAMILY.training_extras(gan.GANSettings.quick(), True, None, tmp_path / "run", load_or_train)
    in_its_folder = {"device": None, "out_dir": tmp_path / "run" / "classifier"}
    assert asked == [("classifier", quality.ClassifierSettings.quick(), in_its_folder)], "asked once, at once"
    assert callable(extras["evaluate"])
