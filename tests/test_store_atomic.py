"""Atomic file and directory writes."""

from __future__ import annotations

import json
import os

import pytest

from memoird.store.atomic import (atomic_write_bytes, atomic_write_dir, atomic_write_json,
                                  atomic_write_text)


def test_file_write_replaces_whole_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "memory.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    atomic_write_text(tmp_path / "t.txt", "héllo")
    atomic_write_json(tmp_path / "j.json", {"b": 1, "a": [1]})
    assert json.loads((tmp_path / "j.json").read_text()) == {"a": [1], "b": 1}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["j.json", "memory.bin", "sub", "t.txt"]


def test_failed_file_write_keeps_the_old_content(tmp_path, monkeypatch):
    target = tmp_path / "bank.json"
    atomic_write_bytes(target, b"precious")

    def broken_fsync(fd):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"half")
    monkeypatch.undo()
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["bank.json"]


def test_dir_write_appears_complete_or_not_at_all(tmp_path):
    target = tmp_path / "checkpoints" / "d1"
    with pytest.raises(RuntimeError):
        with atomic_write_dir(target) as tmp:
            (tmp / "model.safetensors").write_bytes(b"partial")
            raise RuntimeError("killed mid-save")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with atomic_write_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
        (tmp / "nested").mkdir()
        (tmp / "nested" / "w.bin").write_bytes(b"w")
    assert sorted(p.name for p in target.rglob("*")) == ["config.json", "nested", "w.bin"]
    with pytest.raises(FileExistsError, match="d1"):
        with atomic_write_dir(target):
            pass
    with atomic_write_dir(target, overwrite=True) as tmp:
        (tmp / "config.json").write_text('{"v": 2}')
    assert [p.name for p in target.iterdir()] == ["config.json"]
    assert (target / "config.json").read_text() == '{"v": 2}'
    assert [p.name for p in target.parent.iterdir()] == ["d1"]


def test_dir_write_repairs_a_crash_between_the_renames(tmp_path):
    target = tmp_path / "memory"
    aside = tmp_path / ".memory.old"
    aside.mkdir()
    (aside / "bank.bin").write_bytes(b"old bank")           # the swap was cut short
    (tmp_path / ".memory.abc.tmpdir").mkdir()               # and its temp folder was left
    with pytest.raises(FileExistsError):                    # the old folder is back in place
        with atomic_write_dir(target):
            pass
    assert (target / "bank.bin").read_bytes() == b"old bank"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory"]
