"""The memory file: one safetensors file, written atomically, that is the commit point.

Everything needed to reproduce the edited model's outputs bit for bit is in it: ``W_m``,
the TopHash permutation and background mean, every edit's weight mask and routing keys,
τ, layer, k, the base model's fingerprint and a generation number, plus each edit's
request so that an exact rebuild can replay them. The reference code saved none of the
permutation or masks, so a restart lost every edit.

A write goes to a temporary file in the same folder, is fsynced, renamed over the old file
with ``os.replace`` and the folder is fsynced, so a crash at any instant leaves either the
old or the new file, never a torn one. (The editor must not import ``memoird.store``, so
it carries this small helper instead of ``store/atomic.py``.)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

FORMAT = "memoird-memory/1"


class MemoryFileError(RuntimeError):
    """The memory file is missing, unreadable, or belongs to another base model."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temps(path: Path) -> None:
    """Delete temp files a killed writer left beside ``path`` (one writer per memory file)."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def write_memory(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> int:
    """Serialise and commit; returns the number of bytes written."""
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    header = {"format": FORMAT, "meta": json.dumps(meta, sort_keys=True)}
    data = st_save(cpu, metadata=header)
    atomic_write_bytes(path, data)
    return len(data)


def read_memory(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MemoryFileError(f"memory file {path} does not exist") from exc
    try:
        tensors = st_load(data)
        header = _header(data)
    except Exception as exc:  # safetensors raises several types for a bad file
        raise MemoryFileError(f"memory file {path} is not a readable safetensors file: {exc}") from exc
    if header.get("format") != FORMAT:
        raise MemoryFileError(f"memory file {path} has format {header.get('format')!r}, expected {FORMAT}")
    return tensors, json.loads(header["meta"])


def _header(data: bytes) -> dict:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n]).get("__metadata__", {})
