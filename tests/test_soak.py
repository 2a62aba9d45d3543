"""The kill soak, short: `memoird run` SIGKILLed five times (polling, extracting, applying an
edit, reverting one, distilling), restarted each time, then run to idle on loopback news feeds.

bench/soak.py does the work (50 kills there, and a distillation run to its end before the
final checks); here two dev-set changes, whose articles make edits with the embedded model,
and one kill per stage. Nothing may be lost, half-applied or processed twice, and every
SQLite file must pass its integrity check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import soak  # noqa: E402

ITEMS = "uk-pm-2024,japan-pm-2025"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_five_kills_lose_nothing(tmp_path, embedded_model_dir):
    lines: list[str] = []
    rc = soak.main(["--kills", "5", "--items", ITEMS, "--model-dir", str(embedded_model_dir),
                    "--work-dir", str(tmp_path / "work"), "--stage-timeout", "90",
                    "--idle-timeout", "600", "--no-final-distill"],
                   out_dir=tmp_path, progress=lines.append)
    report = "\n".join(lines)
    [row] = json.loads((tmp_path / "soak.json").read_text())["rows"]
    assert row["error"] is None, report
    assert row["kills"] == 5, report
    assert row["integrity_ok"] is True, report
    assert row["lost_edits"] == 0 and row["half_applied"] == 0, report
    assert row["duplicate_articles"] == 0 and row["duplicate_probes"] == 0, report
    assert row["duplicate_edits"] == 0 and row["half_done"] == 0, report
    assert row["lost_articles"] == 0 and row["distill_violations"] == 0, report
    assert row["articles_stored"] == row["articles"] == 4, report
    assert row["targets_hit"] >= 2, report  # kills land inside stages, not only at idle
    assert rc == 0, report
