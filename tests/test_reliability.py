"""Specification of training reliability through the command line: a run killed at any moment
resumes to the very weights of an uninterrupted run, a checkpoint being written when the process
dies never damages the previous one, a NaN/inf stops training in one line (or is skipped on
request), and the same seed gives the same weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from support import TINY, TINY_FLOW

from gengen_lib import vae
from gengen_lib.__main__ import main
from gengen_lib.checkpoints import CHECKPOINT_NAME, CheckpointError, read_checkpoint

EPOCHS = 3
# The CI quick VAE (5,000 images, 40 batches of 128 per epoch, under a second an epoch on one thread).
KILLABLE = ["train", "vae", "--quick", "--epochs", str(EPOCHS), "--quiet", "--threads", "1", "--device", "cpu"]
# Every model the CLI trains, small enough to be killed and resumed in seconds.
KILLABLE_MODELS = {
    "vae": KILLABLE,
    "gan": ["train", "gan", "--quick", "--train-subset", "640", "--epochs", str(EPOCHS), "--quiet", "--threads", "1"],
    "flow": ["train", "flow", "--quick", "--train-subset", "512", "--hidden", "32", "--epochs", str(EPOCHS),
             "--quiet", "--threads", "1"],
    "classifier": ["train", "classifier", "--quick", "--train-subset", "1024", "--epochs", str(EPOCHS),
                   "--quiet", "--threads", "1"],
}

# Dies by SIGKILL in the middle of writing the second epoch's checkpoint, after half the bytes.
DIE_WHILE_SAVING = """
import os, signal, sys
from gengen_lib import checkpoints
from gengen_lib.__main__ import main
calls = 0
def write_atomically(path, data):
    global calls
    if path.name == checkpoints.CHECKPOINT_NAME:
        calls += 1
        if calls == 2:
            tmp = path.with_name(f"{checkpoints.TEMPORARY_PREFIX}{os.getpid()}-{path.name}")
            with open(tmp, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
    real_write(path, data)
real_write, checkpoints.write_atomically = checkpoints.write_atomically, write_atomically
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(autouse=True)
def _scratch_runs(scratch_runs):
    """Every test here runs with a scratch runs folder (conftest.scratch_runs)."""


def cli_process(out, *python_args, command=KILLABLE):
    env = dict(os.environ, GENGEN_RUNS=str(out.parent / "runs"))
    command = [sys.executable, *python_args, *command, "--out", str(out)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


# Ceilings on waiting for an event (a process ends, a checkpoint appears), not deadlines: under load
# (CI beside other jobs) the GAN's first epoch, which first trains the metrics' classifier, took minutes.
EVENT_CEILING_S = 3600.0


def finish(process, timeout=EVENT_CEILING_S):
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The checkpoint of an uninterrupted run of the killable command."""
    out = tmp_path_factory.mktemp("reference") / "vae"
    code, err = finish(cli_process(out, "-m", "gengen_lib"))
    assert code == 0, err
    return out / CHECKPOINT_NAME


def assert_same_tensors(path, reference_path):
    """Weights, optimizer moments, RNG states and sample snapshots: every tensor, bit for bit."""
    got, want = load_file(str(path)), load_file(str(reference_path))
    assert got.keys() == want.keys()
    assert any(k.startswith("model/") for k in got) and any(k.startswith("optim/") for k in got)
    for key in want:
        assert torch.equal(got[key], want[key]), key


def kill_when(condition, process, timeout=EVENT_CEILING_S):
    start = time.monotonic()
    while not condition():
        assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read()}"
        assert time.monotonic() - start < timeout, "no checkpoint appeared"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()


def run(*argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def files(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def poison(monkeypatch, at, value):
    """Multiply the VAE's loss by ``value`` at the ``at``-th optimisation step of this process."""
    real, calls = vae.optimizer_step, {"n": 0}

    def optimizer_step(optimizer, loss, *args, **kwargs):
        calls["n"] += 1
        return real(optimizer, loss * value if calls["n"] == at else loss, *args, **kwargs)

    monkeypatch.setattr(vae, "optimizer_step", optimizer_step)


# --- kill -9 and resume ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model", KILLABLE_MODELS)
def test_a_run_killed_mid_epoch_resumes_to_bit_identical_weights(tmp_path, model):
    """Every random stream a run consumes is in its checkpoint (data order, dropout, noise,
    dequantization, binarization), so a resumed run ends with the same bits as an uninterrupted one."""
    command = KILLABLE_MODELS[model]
    uninterrupted = tmp_path / "reference" / model
    code, err = finish(cli_process(uninterrupted, "-m", "gengen_lib", command=command))
    assert code == 0, err
    out = tmp_path / "killed" / model
    checkpoint = out / CHECKPOINT_NAME
    process = cli_process(out, "-m", "gengen_lib", command=command)
    kill_when(checkpoint.exists, process)
    assert process.returncode == -signal.SIGKILL
    _, state = read_checkpoint(checkpoint)
    assert state["epoch"] < EPOCHS, "the run was killed before it finished"
    finished_epoch = state["history"]["epochs"][0]

    code, err = finish(cli_process(out, "-m", "gengen_lib", command=command))
    assert code == 0, err
    assert_same_tensors(checkpoint, uninterrupted / CHECKPOINT_NAME)
    _, final = read_checkpoint(checkpoint)
    assert final["history"]["epochs"][0] == finished_epoch, "epoch 1 was resumed, not redone (its timing is kept)"


@pytest.mark.slow
def test_a_kill_while_a_checkpoint_is_written_leaves_the_previous_one_intact(tmp_path, reference):
    out = tmp_path / "vae"
    code, _ = finish(cli_process(out, "-c", DIE_WHILE_SAVING))
    assert code == -signal.SIGKILL
    (partial,) = out.glob(".tmp-*")
    with pytest.raises(CheckpointError, match="corrupted"):
        read_checkpoint(partial)  # half a file was on disk when the process died...
    _, state = read_checkpoint(out / CHECKPOINT_NAME)
    assert state["epoch"] == 1  # ...but the checkpoint is still the complete one of epoch 1

    code, err = finish(cli_process(out, "-m", "gengen_lib"))
    assert code == 0, err
    assert_same_tensors(out / CHECKPOINT_NAME, reference)
    assert not partial.exists(), "the next start removes a killed writer's temporary file"


# --- NaN / inf ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, shown", [(float("nan"), "nan"), (float("inf"), "inf")])
def test_a_nonfinite_loss_stops_training_in_one_line_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch, capsys, value, shown
):
    out = tmp_path / "vae"
    assert run("train", "vae", *TINY, "--epochs", 1, "--out", out, capsys=capsys)[0] == 0
    before = files(out)
    poison(monkeypatch, at=2, value=value)  # the 2nd step of the resumed run: epoch 2, batch 2
    code, _, err = run("train", "vae", *TINY, "--epochs", 3, "--out", out, capsys=capsys)
    assert code == 1
    assert err.splitlines() == [
        f"error: training stopped at epoch 2, batch 2: the loss is {shown}; the last good checkpoint (epoch 1) "
        f"is in {out}; fix: lower the learning rate, or skip such batches (skip_nonfinite=True, --skip-nonfinite)"
    ]
    assert files(out) == before


def test_a_nonfinite_loss_in_the_first_epoch_says_that_no_checkpoint_exists(tmp_path, monkeypatch, capsys):
    out = tmp_path / "vae"
    poison(monkeypatch, at=2, value=float("nan"))
    code, _, err = run("train", "vae", *TINY, "--epochs", 2, "--out", out, capsys=capsys)
    assert code == 1 and len(err.splitlines()) == 1
    assert "epoch 1, batch 2: the loss is nan; no epoch had finished, so no checkpoint was written" in err
    assert not (out / CHECKPOINT_NAME).exists()


def test_skip_nonfinite_skips_the_bad_batch_counts_it_and_finishes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "vae"
    poison(monkeypatch, at=3, value=float("nan"))
    code, _, err = run("train", "vae", *TINY, "--epochs", 2, "--skip-nonfinite", "--out", out, capsys=capsys)
    assert code == 0, err
    tensors, state = read_checkpoint(out / CHECKPOINT_NAME)
    assert state["epoch"] == 2 and state["history"]["skipped_batches"] == 1
    assert len(state["history"]["steps"]["elbo"]) == 2 * 2 - 1
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if k.startswith("model/"))


# --- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("model, tiny", [("vae", TINY), ("flow", TINY_FLOW)])
def test_two_runs_with_the_same_seed_give_bit_identical_weights(tmp_path, capsys, model, tiny):
    for name in ("a", "b"):
        assert run("train", model, *tiny, "--epochs", 2, "--out", tmp_path / name, capsys=capsys)[0] == 0
    assert_same_tensors(tmp_path / "a" / CHECKPOINT_NAME, tmp_path / "b" / CHECKPOINT_NAME)


def test_another_seed_gives_other_weights(tmp_path, capsys):
    for name, seed in (("a", 0), ("b", 1)):
        argv = ("train", "vae", *TINY, "--epochs", 1, "--seed", seed, "--out", tmp_path / name)
        assert run(*argv, capsys=capsys)[0] == 0
    a, b = (load_file(str(tmp_path / name / CHECKPOINT_NAME)) for name in "ab")
    assert not torch.equal(a["model/encoder.0.weight"], b["model/encoder.0.weight"])


# --- run folders: locks, planted files, full disks ---------------------------------------------


def test_a_second_process_on_the_same_run_folder_is_refused_naming_the_holder(tmp_path):
    from gengen_lib.checkpoints import RunLock

    out = tmp_path / "vae"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from gengen_lib.checkpoints import RunLock\n"
         f"with RunLock(__import__('pathlib').Path({str(out)!r})):\n    print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,  # holds the lock until killed, however slow we are
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, err = finish(cli_process(out, "-m", "gengen_lib"))
        assert code == 1 and err.count("\n") == 1
        assert f"is in use by another training process (pid {holder.pid}); fix: wait" in err
        assert not (out / CHECKPOINT_NAME).exists()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(out):  # the lock died with its holder
        pass


def test_planted_symlinks_in_a_run_folder_are_never_followed(tmp_path, capsys):
    out, victim = tmp_path / "vae", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("precious")
    for name in (f".write-test-{os.getpid()}", ".tmp-1-checkpoint.safetensors", "history.json"):
        (out / name).symlink_to(victim)
    assert run("train", "vae", *TINY, "--epochs", 1, "--out", out, capsys=capsys)[0] == 0
    assert victim.read_text() == "precious"
    assert not (out / "history.json").is_symlink() and (out / "history.json").is_file()


def test_a_full_disk_at_save_time_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    from gengen_lib import checkpoints

    out = tmp_path / "vae"
    assert run("train", "vae", *TINY, "--epochs", 1, "--out", out, capsys=capsys)[0] == 0
    before = files(out)

    def full_disk(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints, "write_atomically", full_disk)
    code, _, err = run("train", "vae", *TINY, "--epochs", 2, "--out", out, capsys=capsys)
    assert code == 1 and err.count("\n") == 1
    assert "cannot write the checkpoint of epoch 2" in err and "No space left on device" in err
    assert "the previous checkpoint is kept" in err
    assert {k: v for k, v in files(out).items() if k != ".lock"} == {k: v for k, v in before.items() if k != ".lock"}


def test_history_json_follows_the_checkpoint_even_if_it_was_lost(tmp_path, capsys):
    out = tmp_path / "vae"
    assert run("train", "vae", *TINY, "--epochs", 2, "--out", out, capsys=capsys)[0] == 0
    (out / "history.json").unlink()
    assert run("train", "vae", *TINY, "--epochs", 2, "--out", out, capsys=capsys)[0] == 0
    assert __import__("json").loads((out / "history.json").read_text())["epoch"] == 2


def test_a_run_whose_every_batch_is_skipped_fails_instead_of_saving_a_nan_model(tmp_path, monkeypatch, capsys):
    out = tmp_path / "vae"
    real = vae.optimizer_step
    monkeypatch.setattr(vae, "optimizer_step", lambda opt, loss, *a, **k: real(opt, loss * float("nan"), *a, **k))
    code, _, err = run("train", "vae", *TINY, "--epochs", 1, "--skip-nonfinite", "--out", out, capsys=capsys)
    assert code == 1 and "every batch had a NaN or inf loss" in err
    assert not (out / CHECKPOINT_NAME).exists()


def test_ctrl_c_says_what_was_saved(tmp_path, monkeypatch, capsys):
    out = tmp_path / "vae"

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vae, "optimizer_step", interrupt)
    code, _, err = run("train", "vae", *TINY, "--epochs", 1, "--out", out, capsys=capsys)
    assert code == 130 and err.strip() == "interrupted: nothing was saved; run the same command again to resume"


def test_a_checkpoint_of_an_older_format_is_refused_in_one_line(tmp_path, capsys):
    """Formats whose digest does not cover the whole file cannot be verified (a downgrade would turn the check off)."""
    from safetensors.torch import load_file, save_file

    out = tmp_path / "vae"
    assert run("train", "vae", *TINY, "--epochs", 1, "--out", out, capsys=capsys)[0] == 0
    path = out / CHECKPOINT_NAME
    with open(path, "rb") as f:
        metadata = __import__("json").loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    save_file(load_file(str(path)), str(path), {"format": "gengen-checkpoint-1", "state": metadata["state"]})
    code, _, err = run("train", "vae", *TINY, "--epochs", 2, "--out", out, capsys=capsys)
    assert code == 1 and err.count("\n") == 1 and "old format gengen-checkpoint-1" in err and "delete it" in err


# Ctrl-C while `python -m gengen_lib` is still importing torch (which takes seconds).
INTERRUPT_IMPORT = """
import builtins, runpy, sys
real_import = builtins.__import__
def interrupted_import(name, *args, **kwargs):
    if name == "torch":
        raise KeyboardInterrupt
    return real_import(name, *args, **kwargs)
builtins.__import__ = interrupted_import
sys.argv = ["gengen_lib", "train", "vae", "--quick"]
runpy.run_module("gengen_lib", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_while_torch_is_imported_is_one_line():
    done = subprocess.run([sys.executable, "-c", INTERRUPT_IMPORT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 130 and done.stderr == "interrupted: nothing was saved\n", done.stderr
