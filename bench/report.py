"""Rewrite the README's results section from bench/results/*.json.

The README never carries a number by hand: `make bench` runs every benchmark and then this
script, which replaces the text between the two RESULTS markers with one table per results
file (the columns DESIGN.md names for it, when present), plus the file's commit and date.

    python bench/report.py            # rewrite README.md
    python bench/report.py --check    # exit 1 if README.md is not up to date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"
BEGIN, END = "<!-- RESULTS:BEGIN -->", "<!-- RESULTS:END -->"

#: columns shown per benchmark, in order (DESIGN.md "Benchmark results"); others stay in JSON
COLUMNS: dict[str, list[str]] = {
    "edit_bench": ["model", "dataset", "T", "method", "rel_em", "gen_em", "loc_em", "rel_tf",
                   "gen_tf", "loc_tf", "edit_s_median", "edit_s_p95", "latency_ratio",
                   "bytes_per_edit"],
    "ingest_bench": ["pass", "feeds", "answers_200", "answers_304", "feeds_per_s",
                     "cpu_s_per_feed", "cost_304_over_200"],
    "extract_bench": ["dataset", "backend", "model", "n", "workers", "strict_p", "strict_r", "strict_f1",
                      "partial_f1", "sentences_per_s"],
    "probe_bench": ["model", "split", "precision", "recall", "unknown_share", "n"],
    "distill_bench": ["model", "T", "method", "rel_em", "gen_em", "loc_em", "ppl_drift",
                      "folded_share", "served_match", "layers", "wall_s"],
    "api_bench": ["kind", "clients", "background", "duration_s", "requests", "errors",
                  "p50_ratio", "p95_ratio", "throughput_ratio", "stage", "exit_s", "clean",
                  "load_1m_start", "run", "edit_page_ms"],
    # one summary row per run, then one row per item
    "news_bench": ["dataset", "extractor", "method", "id", "item_kind", "relation", "items",
                   "changes", "edits_applied", "edits_correct", "edits_wrong", "edits",
                   "cloze_new_before", "cloze_new", "question_new", "chat_new", "alias_new",
                   "cloze_before", "cloze_after", "question_after", "chat_after", "alias_after",
                   "neighbours_unchanged", "poison_edits", "agree_edits", "ingest_s",
                   "answer_after"],
    "soak": ["kills", "stages_hit", "lost_edits", "half_applied", "duplicate_articles",
             "integrity_ok", "lost_articles", "duplicate_probes", "duplicate_edits",
             "edits_applied", "edits_distilled", "final_distill", "wall_s"],
}

#: rows shown per benchmark (others stay in the JSON): the per-item table of the news
#: benchmark only for the default extractor's runs
ROW_FILTERS = {
    "news_bench": lambda r: r.get("kind") != "item" or (
        r.get("method") == "reading" and "smollm2" in str(r.get("extractor", ""))),
}

TITLES = {
    "edit_bench": "Editing (MEMOIR) — `bench/edit_bench.py`",
    "ingest_bench": "Feed ingestion — `bench/ingest_bench.py`",
    "extract_bench": "Fact extraction — `bench/extract_bench.py`",
    "probe_bench": "Contradiction probing — `bench/probe_bench.py`",
    "distill_bench": "Distillation — `bench/distill_bench.py`",
    "api_bench": "API under load — `bench/api_bench.py`",
    "news_bench": "News to edits, end to end — `bench/news_bench.py`",
    "soak": "Kill soak — `bench/soak.py`",
}


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):  # counts by name, e.g. the soak's stages hit
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    return str(value)


def _columns(name: str, rows: list[dict]) -> list[str]:
    keys = {k for r in rows for k, v in r.items() if isinstance(v, (int, float, str)) or v is None
            or (isinstance(v, dict) and k in COLUMNS.get(name, []))}
    wanted = [c for c in COLUMNS.get(name, []) if c in keys]
    # a kind of row the design names no columns for: show all of its own
    return wanted if len(wanted) >= 3 else sorted(keys)


def render_table(name: str, data: dict) -> str:
    """One table per kind of row: a results file may hold rows of different shapes (the
    load test and the edit-log page timing, say), each with its own columns."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    keep = ROW_FILTERS.get(name, lambda r: True)
    for row in data.get("rows", []):
        if keep(row):
            groups.setdefault(tuple(sorted(k for k in row if k not in ("command", "commit"))),
                              []).append(row)
    meta = data.get("meta", {})
    lines = [f"### {TITLES.get(name, name)}", "",
             f"commit `{meta.get('commit', '?')}`, {meta.get('date', '?')}, "
             f"{meta.get('machine', '?')}; command `{meta.get('command', '?')}`"]
    for rows in groups.values():
        columns = _columns(name, rows)
        lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    plot = RESULTS / f"{name}.png"
    if plot.exists():
        lines += ["", f"![{name}](bench/results/{name}.png)"]
    return "\n".join(lines)


def render_all() -> str:
    parts = []
    for path in sorted(RESULTS.glob("*.json")):
        parts.append(render_table(path.stem, json.loads(path.read_text())))
    return "\n\n".join(parts) if parts else "_No benchmark has been run yet: `make bench`._"


def updated_readme(text: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README} lacks the {BEGIN} / {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render_all()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, do not write")
    args = parser.parse_args(argv)
    text = README.read_text()
    new = updated_readme(text)
    if args.check:
        if new != text:
            print("README.md results are out of date: run python bench/report.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
