"""The contract every model family keeps (gengen_lib.families): one record per family, and the
command line, the shipped models and the training loop work the same way for each of them.

A new family that passes this file is usable from the command line, resumable and shippable.
Each family trains on 256 images in its quick setting, so the whole file stays fast.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import json
import tomllib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gengen_lib import exercises, options, pretrained
from gengen_lib.__main__ import build_parser, main
from gengen_lib.checkpoints import CHECKPOINT_NAME, read_checkpoint
from gengen_lib.families import FAMILIES, SHIPPED
from gengen_lib.runs import run_identity

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _scratch_runs(scratch_runs):
    """Every test here runs with a scratch runs folder and one torch thread (conftest.scratch_runs
    restores the thread count): on a shared machine one thread does not spin waiting for another."""
    torch.set_num_threads(1)


def on_mnist(family) -> bool:
    """Whether the family trains on MNIST images (``train_subset``), not on generated points."""
    return "train_subset" in {f.name for f in dataclasses.fields(family.settings)}


def tiny(family, **overrides):
    """The family's quick settings, on 256 training images where it trains on MNIST."""
    return family.settings.quick(**({"train_subset": 256} if on_mnist(family) else {}), **overrides)


def tiny_run(family) -> list[str]:
    """The command-line options of :func:`tiny`: quick mode, one thread, the CPU, quiet."""
    subset = ["--train-subset", "256"] if on_mnist(family) else []
    return ["--quick", *subset, "--quiet", "--threads", "1", "--device", "cpu"]


def run(*argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


def same_state(a, b) -> bool:
    """Weights, optimizer state and random streams bit for bit (the sample snapshots are drawn at
    the epochs' halfway points of each call, so a 1-epoch call draws its own)."""
    x, y = ({k: v for k, v in load_file(str(p)).items() if not k.startswith("snapshot/")} for p in (a, b))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


# --- the records ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_a_record_is_complete_and_its_settings_explain_every_field(name):
    family = FAMILIES[name]
    assert family.name == name
    fields = {f.name for f in dataclasses.fields(family.settings)}
    assert {"epochs", "batch_size", "seed"} <= fields, "fit_run reads these"
    assert set(family.settings.HELP) == fields | set(family.settings.ALIASES), "one help line per option"
    assert set(family.settings.QUICK) <= fields
    assert all(field in fields for field, _ in family.settings.ALIASES.values())
    for shipped_name, settings in family.shipped.items():
        assert isinstance(settings, family.settings)
        assert pretrained.shipped_name(dataclasses.replace(settings, epochs=1)) == shipped_name


def test_shipped_names_are_unique_across_families():
    assert len(SHIPPED) == sum(len(f.shipped) for f in FAMILIES.values())


@pytest.mark.parametrize("name", [n for n, f in FAMILIES.items() if n != "classifier"])
def test_a_generative_family_samples_reproducible_images_in_the_unit_interval(name):
    """Images in [0, 1] for the MNIST families; points of the declared shape for the two-moons ones."""
    family = FAMILIES[name]
    torch.manual_seed(0)
    model = family.build(tiny(family)).eval()
    first = model.sample(3, generator=torch.Generator().manual_seed(1))
    again = model.sample(3, generator=torch.Generator().manual_seed(1))
    assert first.shape == (3, *family.sample_shape) and first.dtype == torch.float32
    if family.sample_shape == (1, 28, 28):
        assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, again)


# --- training through the runs cache -------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_a_run_stopped_after_one_epoch_resumes_to_the_same_weights_as_an_uninterrupted_one(name, tmp_path):
    family = FAMILIES[name]
    train = lambda settings, out: family.train(settings, device=torch.device("cpu"), out_dir=out, quiet=True)  # noqa: E731
    _, straight = train(tiny(family, epochs=2), tmp_path / "straight")
    _, first = train(tiny(family, epochs=1), tmp_path / "resumed")
    model, resumed = train(tiny(family, epochs=2), tmp_path / "resumed")
    assert len(first.epochs) == 1 and len(resumed.epochs) == 2
    assert same_state(tmp_path / "straight" / CHECKPOINT_NAME, tmp_path / "resumed" / CHECKPOINT_NAME)
    assert resumed.curve("epoch") == straight.curve("epoch") == [1, 2]
    assert not model.training, "a trained model comes back in eval mode"


# --- shipped weights -----------------------------------------------------------------------------


@pytest.mark.parametrize("shipped_name", SHIPPED)
def test_a_shipped_model_loads_into_its_familys_model(shipped_name):
    family, settings = SHIPPED[shipped_name]
    if shipped_name not in pretrained.manifest():
        with pytest.raises(pretrained.PretrainedError, match=f"{shipped_name} is not shipped yet") as e:
            pretrained.load(shipped_name)
        assert "\n" not in str(e.value) and f"ship {shipped_name}" in str(e.value)
        pytest.skip(f"{shipped_name} has no weights in weights/ yet")
    model, history = pretrained.load(shipped_name)
    assert type(model) is type(family.build(settings)) and not model.training
    assert history.epochs, "the training record ships with the weights"
    entry = pretrained.manifest()[shipped_name]
    assert entry["kind"] == family.name and entry["settings"] == json.loads(json.dumps(dataclasses.asdict(settings)))


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize("shipped_name", SHIPPED)
def test_the_command_recorded_for_a_shipped_model_parses_back_to_its_settings(shipped_name):
    family, settings = SHIPPED[shipped_name]
    argv = ["train", family.name, *options.command_line(settings).split()]
    args = build_parser().parse_args(argv)
    assert options.chosen_settings(family.settings, args, quick=False) == settings


@pytest.mark.parametrize("name", FAMILIES)
def test_every_option_of_another_family_is_refused_naming_this_familys_options(name, capsys):
    own = {f.name for f in dataclasses.fields(FAMILIES[name].settings)} | set(FAMILIES[name].settings.ALIASES)
    foreign = sorted({f.name for other in FAMILIES.values() for f in dataclasses.fields(other.settings)} - own)
    for field in foreign:
        assert run("train", name, "--quick", options.flag(field), "1") == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and err.startswith(f"error: {options.flag(field)} does not apply to {name}")
        assert all(options.flag(mine) in err for mine in own) and f"train {name} --help" in err


@pytest.mark.parametrize("name", FAMILIES)
def test_the_command_line_trains_a_family_and_a_repeat_loads_the_finished_run(name, tmp_path, capsys, scratch_runs):
    out = tmp_path / name
    assert run("train", name, *tiny_run(FAMILIES[name]), "--epochs", 1, "--out", out) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["epoch"] == 1
    _, state = read_checkpoint(out / CHECKPOINT_NAME)
    assert state["config"] == {"model": name, **run_identity(tiny(FAMILIES[name], epochs=1)), "epochs": None}
    before = (out / CHECKPOINT_NAME).read_bytes()
    assert run("train", name, *tiny_run(FAMILIES[name]), "--epochs", 1, "--out", out) == 0
    assert json.loads(capsys.readouterr().out) == printed and (out / CHECKPOINT_NAME).read_bytes() == before
    assert not scratch_runs.exists() or not any(scratch_runs.iterdir()), "--out keeps everything in its folder"


# --- the mutation lists (pyproject.toml) ---------------------------------------------------------


def test_mutation_testing_reaches_every_family_module_its_exercises_and_its_tests():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    matches = lambda path, patterns: any(fnmatch.fnmatch(path, p) for p in patterns)  # noqa: E731
    modules = {family.build.__module__ for family in FAMILIES.values()}
    modules |= {checker.__module__ for checker in exercises.CHECKERS.values()}
    for module in sorted(modules):
        path = module.replace(".", "/") + ".py"
        assert matches(path, config["only_mutate"]) and not matches(path, config["do_not_mutate"]), path
        tests = ROOT / f"tests/test_{module.rsplit('.', 1)[-1]}.py"
        if tests.exists():  # its specification runs against its mutants: it is marked `math`
            assert "\npytestmark = pytest.mark.math" in tests.read_text(encoding="utf-8"), tests.name
    assert config["pytest_add_cli_args_test_selection"] == ["tests"]
    marker = config["pytest_add_cli_args"][config["pytest_add_cli_args"].index("-m") + 1]
    assert marker.startswith("math and "), "mutants meet the specifications of the maths only"


# --- what else iterates over the registry ---------------------------------------------------------


def test_the_book_export_runs_every_familys_explorer_exporter_in_the_registrys_order(monkeypatch, tmp_path):
    from gengen_lib import families
    from gengen_lib.export import export_book_explorers

    ran = []
    fake = lambda name: lambda out_dir: ran.append((name, out_dir)) or [out_dir / f"{name}.js"]  # noqa: E731
    replaced = {n: dataclasses.replace(f, exporter=fake(n)) if f.exporter else f for n, f in FAMILIES.items()}
    monkeypatch.setattr(families, "FAMILIES", replaced)
    paths = export_book_explorers(tmp_path)
    with_exporter = [n for n, f in FAMILIES.items() if f.exporter]
    assert ran == [(n, tmp_path) for n in with_exporter] and paths == [tmp_path / f"{n}.js" for n in with_exporter]
    assert {"vae", "gan", "flow", "toy-flow-matching"} <= set(with_exporter)


def test_the_exercises_are_the_sets_the_families_name_in_the_registrys_order():
    named = [importlib.import_module(f"gengen_lib.{f.exercises}") for f in FAMILIES.values() if f.exercises]
    assert exercises.SETS == tuple(module.EXERCISES for module in named)
    assert [s.family for s in exercises.SETS] == ["vae", "gan", "flows", "flow_matching"], "the book's order"
