"""Shared benchmark helpers: every bench/NAME.py writes bench/results/NAME.json the same way.

Format (DESIGN.md "Benchmark results"): ``{"meta": {"commit", "date", "machine", "command"},
"rows": [...]}``, one row per measurement, so results compare across commits and plot easily.

    from common import write_results, Timer
    rows = [{"feeds": 1000, "feeds_per_s": 212.0}]
    write_results("ingest_bench", rows, extra_meta={"feeds_file": "miniflux-small_atom.xml"})
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
SHARED_DATA = REPO.parent / "shared" / "data"

__all__ = ["REPO", "RESULTS", "SHARED_DATA", "meta", "write_results", "Timer", "cpu_seconds"]


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = ""
    torch = sys.modules.get("torch")  # only when the benchmark loaded it: importing torch costs seconds
    try:
        if torch is not None and torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except Exception:
        pass
    return f"{cpu}, {cores} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}{gpu}"


def meta(command: str | None = None, **extra: Any) -> dict[str, Any]:
    """The run's provenance: commit (with -dirty), UTC date, machine, and the command line."""
    return {
        "commit": _commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "command": command or " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        # the machine may be shared: a high load explains slow wall times, ratios stay comparable
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        **extra,
    }


def write_results(name: str, rows: list[dict[str, Any]], *, extra_meta: dict[str, Any] | None = None,
                  out_dir: Path | None = None) -> Path:
    """Write ``<out_dir or bench/results>/<name>.json`` atomically and return its path."""
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"meta": meta(**(extra_meta or {})), "rows": rows}, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Timer:
    """``with Timer() as t: ...`` then ``t.wall_s`` and ``t.cpu_s`` (this process, all threads)."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = cpu_seconds() - self._cpu
