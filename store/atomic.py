"""Crash-safe file and directory writes.

A reader (or a restart after SIGKILL or a power cut) sees either the old content or the
new, never a torn file: write to a temporary name in the same directory, fsync it,
``os.replace`` it over the target, then fsync the directory so the rename itself is
durable. Memory banks, masks and checkpoint folders are written this way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def fsync_dir(path: str | Path) -> None:
    """Make renames and creations inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int = 0o644,
                       make_parents: bool = True) -> Path:
    """Replace ``path`` with ``data`` atomically, creating parent folders unless told not to.

    ``mode`` is set before the first byte is written (0o600 for a file holding secrets).
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)   # mkstemp's 0600 would hide it from readers
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | Path, value: Any) -> Path:
    """JSON with sorted keys and a final newline, so files diff cleanly."""
    return atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True,
                                              ensure_ascii=False) + "\n")


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(folder)


def _aside_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


@contextlib.contextmanager
def atomic_write_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory in a temporary folder and move it into place on success.

    ``with atomic_write_dir(target) as tmp: model.save_pretrained(tmp)`` leaves either
    no ``target`` (on error, or a crash: the temporary folder is removed next time) or a
    complete one. Creating a new directory is a single atomic rename. Replacing one
    (``overwrite=True``) takes two renames: the old folder moves aside to
    ``.<name>.old`` first; a crash between the renames is repaired by the next call for
    the same target, which puts the old folder back. One writer per target at a time:
    a call removes leftover temporary folders of its target from crashed runs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = _aside_name(path)
    if aside.exists():
        if path.exists():
            shutil.rmtree(aside)            # crash after the swap: the old copy is garbage
        else:
            os.replace(aside, path)         # crash between the renames: restore the old one
        fsync_dir(path.parent)
    for stale in path.parent.glob(f".{path.name}.*.tmpdir"):
        shutil.rmtree(stale, ignore_errors=True)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists (pass overwrite=True to replace it)")
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmpdir"))
    try:
        yield tmp
        tmp.chmod(0o755)                        # mkdtemp's 0700 would hide it from readers
        _fsync_tree(tmp)
        if path.exists():
            os.replace(path, aside)
            os.replace(tmp, path)
            fsync_dir(path.parent)
            shutil.rmtree(aside)
        else:
            os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
