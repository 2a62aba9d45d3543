"""Checkpoint registry operations: retention on disk, disk accounting, and the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from memoird.daemon.checkpoint_cli import register_cli
from memoird.daemon.config import load_config
from memoird.daemon.distill_job import apply_retention, disk_usage
from memoird.daemon.runtime import Runtime
from memoird.store import checkpoints as registry


def _folder(path: Path, size: int) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "model.safetensors").write_bytes(b"\0" * size)
    return path


@pytest.fixture
def rt(tmp_path):
    """A registry with a chain root <- c2 <- c3 <- c4 <- c5 (active) and a candidate c6."""
    data = tmp_path / "data"
    config_file = tmp_path / "memoird.toml"
    config_file.write_text(f'[daemon]\ndata_dir = "{data}"\n[distill]\nkeep_checkpoints = 3\n')
    runtime = Runtime(load_config(config_file), config_file)
    db = runtime.db()
    ck = runtime.paths.checkpoints
    root = registry.register_checkpoint(db, _folder(ck / "smollm2-135m-instruct", 1000),
                                        status="active")
    parent = root.id
    for n in range(2, 7):
        c = registry.register_checkpoint(db, _folder(ck / f"distilled-{parent}-g{n}", 100 * n),
                                         parent_id=parent, size_bytes=100 * n)
        if n < 6:
            registry.activate_checkpoint(db, c.id)
            parent = c.id
    runtime.paths.memory.mkdir(parents=True)
    for c in registry.list_checkpoints(db):
        (runtime.paths.memory / f"checkpoint-{c.id}.memoir").write_bytes(b"m" * 10)
    yield runtime
    runtime.close()


def test_retention_never_deletes_active_parent_or_root(rt):
    db = rt.db()
    ids = {Path(c.path).name: c.id for c in registry.list_checkpoints(db)}
    active = registry.active_checkpoint(db)
    removed = apply_retention(rt, keep=3)
    # Newest first: 6 (candidate) is kept beside active 5, parent 4 and root 1.
    assert removed == [ids["distilled-2-g3"], ids["distilled-1-g2"]]
    for c in registry.list_checkpoints(db):
        on_disk = Path(c.path).exists()
        assert on_disk == (c.id not in removed), c
        assert (rt.paths.memory / f"checkpoint-{c.id}.memoir").exists() == on_disk
        if c.id in removed:
            assert c.status == "retired" and "deleted by retention" in c.note
    assert registry.active_checkpoint(db).id == active.id
    # keep=1 keeps the newest (the candidate) and never touches the active checkpoint,
    # its parent or the original base.
    apply_retention(rt, keep=1)
    left = {c.id for c in registry.list_checkpoints(db) if Path(c.path).exists()}
    assert left == {ids["distilled-5-g6"], active.id, active.parent_id, ids["smollm2-135m-instruct"]}
    usage = disk_usage(rt)
    assert usage["total_bytes"] == (1000 + 400 + 500 + 600) + 4 * 2 + 4 * 10
    assert usage["free_bytes"] > 0


def _run(rt, capsys, *argv) -> str:
    parser = argparse.ArgumentParser(prog="memoird")
    parser.add_argument("-c", "--config")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["-c", str(rt.config_path), *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_cli_lists_shows_and_prunes(rt, capsys):
    listing = json.loads(_run(rt, capsys, "checkpoints", "list", "--json"))
    assert [c["status"] for c in listing["items"]].count("active") == 1
    assert listing["items"][0]["disk"]["folder_bytes"] == 2 + 600
    shown = json.loads(_run(rt, capsys, "checkpoints", "show", "5", "--json"))
    assert shown["lineage"] == [5, 4, 3, 2, 1]
    table = _run(rt, capsys, "checkpoints", "list")
    assert "distilled-4-g5" in table and "free of" in table
    assert "deleted the folders of checkpoints [3, 2]" in _run(rt, capsys, "checkpoints", "prune")
    assert "deleted" in _run(rt, capsys, "checkpoints", "list")


def test_cli_refuses_failed_candidate_without_force(rt):
    from memoird.daemon.cli import CliError

    db = rt.db()
    registry.update_checkpoint(db, 6, gate_metrics={"passed": False, "reasons": ["locality 0.5"]})
    parser = argparse.ArgumentParser(prog="memoird")
    parser.add_argument("-c", "--config")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["-c", str(rt.config_path), "checkpoints", "activate", "6"])
    with pytest.raises(CliError, match="failed its gate"):
        args.func(args)
    assert registry.active_checkpoint(db).id == 5
