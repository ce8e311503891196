"""Specification of gengen_lib.runtime: quick mode and the CPU threads, chosen from what the process may use."""

from __future__ import annotations

import os

import pytest
import torch

from gengen_lib import runtime


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("ON", True), ("0", False), ("no", False),
                                          (" off ", False), ("", False)])  # fmt: skip
def test_gengen_quick_takes_the_usual_spellings_of_yes_and_no(monkeypatch, value, quick):
    monkeypatch.setenv(runtime.QUICK_ENV, value)
    assert runtime.quick_mode(default=False) is quick


@pytest.mark.parametrize("value", ["maybe", "2", "quick"])
def test_any_other_gengen_quick_is_one_line_with_the_fix(monkeypatch, value):
    monkeypatch.setenv(runtime.QUICK_ENV, value)
    with pytest.raises(ValueError, match=f"GENGEN_QUICK is '{value}'; fix: GENGEN_QUICK=1 for quick mode"):
        runtime.quick_mode()


@pytest.mark.parametrize("value", ["maybe", 1, None])
def test_a_quick_parameter_that_is_not_true_or_false_is_refused(monkeypatch, value):
    monkeypatch.delenv(runtime.QUICK_ENV, raising=False)
    with pytest.raises(ValueError, match="parameter quick must be True or False.*fix: -p quick False"):
        runtime.quick_mode(default=value)


def cgroup(tmp_path, **files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_threads_follow_the_affinity_mask_and_a_cgroup_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert runtime.usable_cpus(cgroup(tmp_path / "none")) == 8
    assert runtime.usable_cpus(cgroup(tmp_path / "v2max", **{"cpu.max": "max 100000\n"})) == 8
    assert runtime.usable_cpus(cgroup(tmp_path / "v2", **{"cpu.max": "150000 100000\n"})) == 2, "1.5 CPUs round up"
    v1 = cgroup(tmp_path / "v1", **{"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert runtime.usable_cpus(v1) == 3
    unlimited = cgroup(tmp_path / "v1max", **{"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert runtime.usable_cpus(unlimited) == 8
    assert runtime.usable_cpus(cgroup(tmp_path / "tiny", **{"cpu.max": "10000 100000\n"})) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert runtime.usable_cpus(cgroup(tmp_path / "v2", **{"cpu.max": "150000 100000\n"})) == 1, "taskset -c 3"


def test_gengen_threads_overrides_the_choice_and_bad_values_are_one_line(monkeypatch):
    monkeypatch.setenv(runtime.THREADS_ENV, "3")
    assert runtime.thread_count() == 3
    monkeypatch.delenv(runtime.THREADS_ENV)
    assert runtime.thread_count() == runtime.usable_cpus()
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv(runtime.THREADS_ENV, bad)
        with pytest.raises(ValueError, match="GENGEN_THREADS is .*; fix: a whole number such as GENGEN_THREADS=1"):
            runtime.thread_count()


def test_notebook_setup_sets_torchs_threads(monkeypatch, capsys):
    before = torch.get_num_threads()
    monkeypatch.setenv(runtime.THREADS_ENV, "1")
    monkeypatch.delenv(runtime.QUICK_ENV, raising=False)
    try:
        runtime.notebook_setup(quick=True, seed=0)
        assert torch.get_num_threads() == 1 and "CPU (1 threads)" in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)
