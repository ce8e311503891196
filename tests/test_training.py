"""Specification of gengen_lib.training: the one loop every model trains through."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn

from gengen_lib import training
from gengen_lib.checkpoints import CHECKPOINT_NAME, HISTORY_NAME, CheckpointError
from gengen_lib.training import NonFiniteError, fit


class Tiny(nn.Module):
    """A small regressor with dropout, so the global RNG matters for exact resumes."""

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)


def make_run(hidden: int = 8, poison_at: int | None = None):
    """A model, its optimizer, a step function and data; ``poison_at`` makes that step's loss NaN."""
    torch.manual_seed(0)
    model = Tiny(hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(96, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    calls = {"n": 0}

    def step(batch):
        xb, yb = batch
        calls["n"] += 1
        loss = (model(xb) - yb).pow(2).mean()
        if calls["n"] == poison_at:
            loss = loss * float("nan")
        training.optimizer_step(opt, loss)
        return {"loss": loss.item()}

    def evaluate():
        return {"valid_loss": (model(x) - y).pow(2).mean().item()}

    def snapshot():
        return model(torch.ones(2, 4)).detach()

    return model, {"adam": opt}, step, (x, y), evaluate, snapshot


def run(tmp_path=None, epochs=4, **kw):
    model, opts, step, data, evaluate, snapshot = make_run(**{k: kw.pop(k) for k in ("hidden", "poison_at") if k in kw})
    history = fit(
        model,
        opts,
        step,
        data,
        epochs=epochs,
        batch_size=16,
        evaluate=evaluate,
        snapshot=snapshot,
        checkpoint_dir=tmp_path,
        quiet=True,
        config={"model": "tiny"},
        **kw,
    )
    return model, history


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_history_has_one_record_per_epoch_and_the_loss_falls():
    _, h = run(epochs=5)
    assert [e["epoch"] for e in h.epochs] == [1, 2, 3, 4, 5]
    assert {"loss", "valid_loss", "seconds", "images_per_s"} <= set(h.epochs[0])
    assert len(h.steps["loss"]) == 5 * 6
    assert h.curve("valid_loss")[-1] < h.curve("valid_loss")[0]


def test_snapshots_are_taken_at_start_half_and_end():
    _, h = run(epochs=4)
    assert set(h.snapshots) == {"start", "half", "end"}
    assert not torch.equal(h.snapshots["start"], h.snapshots["end"])


def test_a_checkpoint_is_written_each_epoch_with_a_readable_history(tmp_path):
    run(tmp_path, epochs=2)
    assert (tmp_path / CHECKPOINT_NAME).exists()
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file is left behind"
    summary = json.loads((tmp_path / HISTORY_NAME).read_text())
    assert summary["epoch"] == 2 and len(summary["epochs"]) == 2


def test_resuming_reproduces_an_uninterrupted_run_bit_for_bit(tmp_path):
    straight, h_straight = run(epochs=4)
    run(tmp_path, epochs=2)
    resumed, h_resumed = run(tmp_path, epochs=4)
    for k, v in weights(straight).items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert h_resumed.steps == h_straight.steps
    assert h_resumed.curve("valid_loss") == h_straight.curve("valid_loss")
    assert torch.equal(h_resumed.snapshots["end"], h_straight.snapshots["end"])


def test_a_finished_run_is_loaded_not_retrained(tmp_path):
    first, h1 = run(tmp_path, epochs=2)
    again, h2 = run(tmp_path, epochs=2)
    assert h2.epochs == h1.epochs
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in weights(first).items())


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    run(tmp_path, epochs=1)
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()
    with pytest.raises(
        NonFiniteError, match=r"stopped at epoch 2, batch 2: the loss is nan; the last good checkpoint \(epoch 1\)"
    ):
        run(tmp_path, epochs=3, poison_at=2)  # step counter restarts at 1 in the resumed epoch 2
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before


def test_skip_nonfinite_skips_the_bad_batch_and_counts_it():
    model, h = run(epochs=2, poison_at=3, skip_nonfinite=True)
    assert h.skipped_batches == 1
    assert len(h.steps["loss"]) == 2 * 6 - 1
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_nan_gradient_is_refused_before_the_parameters_change():
    w = nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([w], lr=0.1)
    loss = torch.sqrt(w - 1).sum()  # a finite loss (0) whose gradient 1 / (2 sqrt(0)) is inf
    with pytest.raises(NonFiniteError, match="a gradient is"):
        training.optimizer_step(opt, loss)
    assert torch.equal(w.detach(), torch.ones(3))


def test_a_checkpoint_from_other_settings_is_refused(tmp_path):
    run(tmp_path, epochs=1)
    model, opts, step, data, *_ = make_run()
    with pytest.raises(CheckpointError, match="was written for settings"):
        fit(
            model,
            opts,
            step,
            data,
            epochs=2,
            batch_size=16,
            checkpoint_dir=tmp_path,
            quiet=True,
            config={"model": "other"},
        )


def test_a_checkpoint_of_another_shape_is_refused(tmp_path):
    run(tmp_path, epochs=1)
    with pytest.raises(CheckpointError, match="does not fit this model"):
        run(tmp_path, epochs=2, hidden=16)


def test_a_corrupted_checkpoint_is_refused_with_the_fix(tmp_path):
    run(tmp_path, epochs=1)
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupted.*delete it"):
        run(tmp_path, epochs=2)


@pytest.mark.parametrize(
    "epochs, batch_size, message",
    [
        (0, 16, "epochs must be a positive integer"),
        (-1, 16, "epochs must be a positive integer"),
        (2, 0, "batch_size must be a positive integer"),
        (2, 1000, "larger than the 96 training examples"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(epochs, batch_size, message):
    model, opts, step, data, *_ = make_run()
    with pytest.raises(ValueError, match=message):
        fit(model, opts, step, data, epochs=epochs, batch_size=batch_size, quiet=True)


def test_an_unwritable_output_directory_is_refused(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(CheckpointError, match="cannot write checkpoints"):
        run(blocked / "run", epochs=1)


def test_the_half_snapshot_is_the_model_after_half_of_the_epochs(tmp_path):
    """Of a 4-epoch run, 'half' is what a 2-epoch run of the same seed shows at its end."""
    _, four = run(epochs=4)
    _, two = run(epochs=2)
    assert torch.equal(four.snapshots["half"], two.snapshots["end"])
    assert not torch.equal(four.snapshots["half"], four.snapshots["end"])


class Normed(nn.Module):
    """A model with BatchNorm and dropout: eval mode changes what it computes and what it updates."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)


def test_evaluation_and_snapshots_run_in_eval_mode_and_change_nothing():
    torch.manual_seed(0)
    model = Normed()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
    seen, stats = [], []

    def step(batch):
        (xb,) = batch
        loss = model(xb).pow(2).mean()
        training.optimizer_step(opt, loss)
        return {"loss": loss.item()}

    def look():
        seen.append(model.training)
        before = model.net[1].running_mean.clone()
        out = model(torch.randn(5, 4) * 10)
        stats.append(torch.equal(before, model.net[1].running_mean))
        return {"out": out.mean().item()}

    fit(model, {"sgd": opt}, step, (x,), epochs=2, batch_size=8, evaluate=look,
        snapshot=lambda: torch.tensor([look()["out"]]), quiet=True)  # fmt: skip
    assert seen and not any(seen), "evaluate and snapshot must see the model in eval mode"
    assert all(stats), "evaluating must not move BatchNorm's running statistics"
    assert model.training, "training mode is restored after each evaluation"


def test_a_resume_restores_every_named_random_stream(tmp_path):
    """A step that draws from two named generators resumes to the uninterrupted run's weights."""

    def noisy_run(directory, epochs):
        torch.manual_seed(0)
        model = Tiny()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        noise, mask = torch.Generator().manual_seed(5), torch.Generator().manual_seed(6)
        x = torch.randn(48, 4, generator=torch.Generator().manual_seed(1))

        def step(batch):
            (xb,) = batch
            xb = xb + torch.randn(xb.shape, generator=noise) * (torch.rand(xb.shape, generator=mask) < 0.5)
            loss = model(xb).pow(2).mean()
            training.optimizer_step(opt, loss)
            return {"loss": loss.item()}

        fit(model, {"adam": opt}, step, (x,), epochs=epochs, batch_size=16, checkpoint_dir=directory, quiet=True,
            generators={"noise": noise, "mask": mask})  # fmt: skip
        return model

    straight = noisy_run(tmp_path / "straight", 2)
    noisy_run(tmp_path / "resumed", 1)
    resumed = noisy_run(tmp_path / "resumed", 2)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


# --- what a checkpoint restores is what training left ------------------------------------------

from safetensors.torch import load_file, save  # noqa: E402

from gengen_lib import checkpoints  # noqa: E402


def read_raw(path):
    """(tensors, state) of a checkpoint, read without any checking."""
    with open(path, "rb") as f:
        metadata = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    return load_file(str(path)), json.loads(metadata["state"])


def rewrite(path, tensors, state, *, sign=True, fmt=checkpoints.FORMAT):
    """Write a checkpoint back, with a digest recomputed over the edit (``sign``) or the old digest kept."""
    with open(path, "rb") as f:
        old_digest = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"].get("digest", "")
    text = json.dumps(state)
    digest = checkpoints.tensor_digest(tensors, text) if sign else old_digest
    path.write_bytes(save(tensors, metadata={"format": fmt, "state": text, "digest": digest}))


def _group(state):
    return state["optimizers"]["adam"]["param_groups"][0]


def _pad_history(state):
    state["epoch"] = 5
    state["history"]["epochs"] += [dict(state["history"]["epochs"][-1]) for _ in range(3)]


# An edit of the JSON state that keeps the old digest: the digest now covers the state.
UNSIGNED_EDITS = {
    "gradient ascent": lambda t, s: _group(s).update(maximize=True),
    "betas [2, 0.999]": lambda t, s: _group(s).update(betas=[2, 0.999]),
    "epoch 5 with a padded history": lambda t, s: _pad_history(s),
    "a parameter id renamed": lambda t, s: _group(s).update(params=[0, 1, 2, 7]),
}

# Edits whose digest was recomputed (another version's writer, a bug, a deliberate edit): the
# contents are checked against the model and optimizers they go into.
SIGNED_EDITS = {
    "gradient ascent": (lambda t, s: _group(s).update(maximize=True), "maximize is True where"),
    "betas [2, 0.999]": (lambda t, s: _group(s).update(betas=[2, 0.999]), "betas is"),
    "betas 'ab'": (lambda t, s: _group(s).update(betas="ab"), "betas is 'ab'"),
    "betas null": (lambda t, s: _group(s).update(betas=None), "betas is None"),
    "an lr of 1e30": (lambda t, s: _group(s).update(lr=1e30), "lr is 1e[+]30 where"),
    "amsgrad without its buffers": (lambda t, s: _group(s).update(amsgrad=True), "amsgrad is True"),
    "a renamed parameter id": (lambda t, s: _group(s).update(params=[0, 1, 2, 7]), "parameter ids"),
    "a missing exp_avg": (lambda t, s: t.pop("optim/adam/0/exp_avg"), r"parameter 0 has \['exp_avg_sq', 'step'\]"),
    "moments of another shape": (
        lambda t, s: t.update({"optim/adam/0/exp_avg": t["optim/adam/2/exp_avg"].clone()}), "exp_avg has shape"),
    "a negative step": (lambda t, s: t.update({"optim/adam/1/step": torch.tensor(-1.0)}), "step is -1.0"),
    "a NaN step": (lambda t, s: t.update({"optim/adam/1/step": torch.tensor(float("nan"))}), "step holds NaN"),
    "NaN moments": (lambda t, s: t["optim/adam/0/exp_avg"].fill_(float("nan")), "exp_avg holds NaN"),
    "a negative second moment": (lambda t, s: t["optim/adam/0/exp_avg_sq"].fill_(-1.0), "exp_avg_sq is negative"),
    "weights stored as float16": (
        lambda t, s: t.update({"model/net.0.weight": t["model/net.0.weight"].half()}), "stored as torch.float16"),
    "weights stored as int8": (
        lambda t, s: t.update({"model/net.0.weight": t["model/net.0.weight"].to(torch.int8)}), "stored as torch.int8"),
    "a NaN snapshot": (lambda t, s: t["snapshot/start"].fill_(float("nan")), "snapshot/start holds NaN"),
    "a missing random stream": (lambda t, s: t.pop("rng/data"), "random stream data is missing"),
    "a padded history": (lambda t, s: _pad_history(s), r"history.epochs\[2\] is the record of epoch 2"),
}


@pytest.mark.parametrize("edit", UNSIGNED_EDITS.values(), ids=UNSIGNED_EDITS.keys())
def test_an_edit_of_the_json_state_breaks_the_digest(tmp_path, edit):
    run(tmp_path, epochs=2)
    path = tmp_path / training.CHECKPOINT_NAME
    tensors, state = read_raw(path)
    edit(tensors, state)
    rewrite(path, tensors, state, sign=False)
    with pytest.raises(CheckpointError, match="corrupted .*do not match their sha256 digest.*delete it"):
        run(tmp_path, epochs=3)


@pytest.mark.parametrize("edit, message", SIGNED_EDITS.values(), ids=SIGNED_EDITS.keys())
def test_inconsistent_contents_are_refused_in_one_line_before_training(tmp_path, edit, message):
    run(tmp_path, epochs=2)
    path = tmp_path / training.CHECKPOINT_NAME
    tensors, state = read_raw(path)
    edit(tensors, state)
    rewrite(path, tensors, state)
    with pytest.raises(CheckpointError, match="corrupted") as refused:
        run(tmp_path, epochs=3)
    text = str(refused.value)
    assert "\n" not in text and "delete it to start that run over" in text and "learning rate" not in text
    assert __import__("re").search(message, text), text


@pytest.mark.parametrize("old", ["gengen-checkpoint-1", "gengen-checkpoint-2"])
def test_an_older_format_is_refused_so_a_downgrade_cannot_switch_the_digest_off(tmp_path, old):
    run(tmp_path, epochs=1)
    path = tmp_path / training.CHECKPOINT_NAME
    tensors, state = read_raw(path)
    tensors["model/net.0.weight"][0, 0] += 1.0  # a flipped weight that the old format would not notice
    rewrite(path, tensors, state, sign=False, fmt=old)
    with pytest.raises(CheckpointError, match=f"old format {old}.*cannot be verified.*delete it"):
        run(tmp_path, epochs=2)


# --- finished runs, locks and temporary files --------------------------------------------------


def test_a_finished_run_loads_while_another_process_holds_the_lock_and_writes_nothing(tmp_path):
    trained, _ = run(tmp_path, epochs=2)
    before = sorted(p.name for p in tmp_path.iterdir())
    with checkpoints.RunLock(tmp_path):  # as if another process were training here
        loaded, history = run(tmp_path, epochs=2)
        assert len(history.epochs) == 2
        with pytest.raises(CheckpointError, match="in use by another training process"):
            run(tmp_path, epochs=3)  # not finished: that needs the lock
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in trained.state_dict().items())
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_finished_run_loads_from_a_read_only_folder(tmp_path, monkeypatch):
    run(tmp_path, epochs=1)

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(training, "write_atomically", read_only)
    monkeypatch.setattr(checkpoints, "write_atomically", read_only)
    assert len(run(tmp_path, epochs=1)[1].epochs) == 1


def test_stale_temporary_files_of_dead_writers_go_and_those_of_live_processes_stay(tmp_path):
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"{checkpoints.TEMPORARY_PREFIX}{finished.stdout.strip()}-checkpoint.safetensors"
    live = tmp_path / f"{checkpoints.TEMPORARY_PREFIX}{os.getppid()}-.write-test-{os.getppid()}"
    mine = tmp_path / f"{checkpoints.TEMPORARY_PREFIX}{os.getpid()}-history.json"
    for p in (dead, live, mine):
        p.write_bytes(b"x")
    removed = checkpoints.remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([dead, mine])
    assert live.exists() and not dead.exists() and not mine.exists()


def test_a_lock_file_that_is_not_a_regular_file_is_one_line(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    os.mkfifo(tmp_path / checkpoints.LOCK_NAME)
    with pytest.raises(CheckpointError, match=r"lock file .* is not a regular file; fix: delete it"):
        run(tmp_path, epochs=1)


def test_ctrl_c_just_after_a_save_names_the_epoch_on_disk(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "write_history", interrupted)  # runs right after the checkpoint's rename
    with pytest.raises(training.TrainingInterrupted, match="interrupted: epoch 1 is saved in"):
        run(tmp_path, epochs=2)
