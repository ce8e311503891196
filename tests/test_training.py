"""Specification of gengen_lib.training: the one loop every model trains through."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from gengen_lib import training
from gengen_lib.training import CheckpointError, NonFiniteError, fit


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
    assert (tmp_path / training.CHECKPOINT_NAME).exists()
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file is left behind"
    summary = json.loads((tmp_path / training.HISTORY_NAME).read_text())
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
    before = (tmp_path / training.CHECKPOINT_NAME).read_bytes()
    with pytest.raises(
        NonFiniteError, match=r"stopped at epoch 2, batch 2: the loss is nan; the last good checkpoint \(epoch 1\)"
    ):
        run(tmp_path, epochs=3, poison_at=2)  # step counter restarts at 1 in the resumed epoch 2
    assert (tmp_path / training.CHECKPOINT_NAME).read_bytes() == before


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
    path = tmp_path / training.CHECKPOINT_NAME
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
