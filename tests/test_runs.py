"""Specification of gengen_lib.runs.cached_json: a stored result is read back, never through a planted link."""

from __future__ import annotations

import errno
import json
import os

import pytest

from gengen_lib import checkpoints, runs


def test_a_result_is_computed_once_then_read_back(tmp_path):
    calls = []
    path = tmp_path / "run" / "metrics.json"
    for _ in range(2):
        assert runs.cached_json(path, lambda: calls.append(1) or {"ll": -90.5}) == {"ll": -90.5}
    assert calls == [1] and json.loads(path.read_text()) == {"ll": -90.5}


def test_a_symlink_planted_beside_the_cache_is_never_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    for name in ("metrics.tmp", f"{checkpoints.TEMPORARY_PREFIX}{os.getpid()}-metrics.json"):
        (run / name).symlink_to(outside)
    assert runs.cached_json(run / "metrics.json", lambda: {"ll": 1.0}) == {"ll": 1.0}
    assert outside.read_text() == "precious"
    assert not (run / "metrics.json").is_symlink()


def test_a_symlink_planted_at_the_cache_itself_is_refused(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text('{"ll": 0}')
    (tmp_path / "metrics.json").symlink_to(outside)
    with pytest.raises(runs.CacheError, match="is not a regular file; fix: delete it"):
        runs.cached_json(tmp_path / "metrics.json", lambda: {"ll": 1.0})


@pytest.mark.parametrize("text", ["", '{"ll": -9', "\xff\xfe"], ids=["empty", "truncated", "not text"])
def test_a_damaged_cache_is_one_line_with_the_fix(tmp_path, text):
    path = tmp_path / "metrics.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(runs.CacheError, match=r"is damaged \(.*\); fix: delete it to compute it again") as e:
        runs.cached_json(path, lambda: {"ll": 1.0})
    assert "\n" not in str(e.value)


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(runs.CacheError, match=r"cannot store .*No space left on device.*fix: free disk space"):
        runs.cached_json(tmp_path / "metrics.json", lambda: {"ll": 1.0})
    assert list(tmp_path.iterdir()) == []
