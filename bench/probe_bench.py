"""Probe benchmark: does the probe tell a contradicting claim from a confirming one?

On ``../shared/data/editing/counterfact-1k.json`` every case's cloze prompt (the subject
replaced by the "{subject}" slot) is the template. Among the facts the embedded model
answers with its true object (its greedy answer names ``ground_truth``), the probe is fed
the true object (should be ``agrees``) and the counterfactual ``target_new`` (should be
``conflicts``). Conflict detection precision and recall, and the share of ``unknown``,
are reported.

Thresholds are fitted on the calibration split (even ``case_id``) and reported on the
held-out split (odd ``case_id``), never on the data they were fitted on. Among the
settings that reach the target precision on the calibration split with near-best recall,
the most conservative one is kept (largest conflict gap, highest confidence floor,
widest agreement band): a threshold should need as much evidence as the data allows.

    .venv/bin/python bench/probe_bench.py [--limit N] [--features CACHE.json]

A second held-out row reports the harder population the issue does not score: facts
the model prefers the true object for by likelihood (ROME's test, margin 1 nat/token)
while its greedy answer says something else; a third, all facts.

``--features`` keeps the model's answers and scores per case in a JSON file, so that a
re-calibration does not ask the model again (the model part costs minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED_DATA, Timer, write_results  # noqa: E402

from memoird.editor.probe import (ProbeRequest, ProbeThresholds, TemplateAnswer,  # noqa: E402
                                  score_answers, verdict_of)

DATASET = SHARED_DATA / "editing" / "counterfact-1k.json"
MODEL = "smollm2-135m-instruct"
TARGET_PRECISION = 0.95  # calibrate with a margin over the 0.90 the issue asks for
RECALL_SLACK = 0.03
LIKELIHOOD_MARGIN = 1.0  # how much calibration recall we give up for more conservative thresholds

GRID = {
    "agree_similarity": [0.75, 0.8, 0.85, 0.9, 0.95],
    "agree_gap": [-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0],
    "conflict_gap": [0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0],
    "known_logprob": [-5.0, -4.0, -3.5, -3.0, -2.5, -2.0, -1.5],
}


def compute_features(limit: int | None, threads: int) -> list[dict]:
    import torch

    from memoird.editor.model import load_base
    from memoird.editor.probe import Prober

    # 1 thread on a shared, oversubscribed CPU: two threads spin at every op's barrier
    torch.set_num_threads(threads)
    cases = json.loads(DATASET.read_text())[:limit]
    lm = load_base(MODEL, REPO / ".cache" / "test-data", device="auto")
    prober = Prober.for_model(lm.model, lm.tokenizer)
    requests, kept = [], []
    for case in cases:
        if case["subject"] not in case["prompt"]:
            continue  # no slot to fill: the template would not name the subject
        template = case["prompt"].replace(case["subject"], "{subject}", 1)
        kept.append(case)
        requests += [ProbeRequest(case["subject"], case["ground_truth"], [template]),
                     ProbeRequest(case["subject"], case["target_new"], [template])]
    with Timer() as timer:
        answers = prober.answer(requests)
    rows = []
    for k, case in enumerate(kept):
        rows.append({"case_id": case["case_id"],
                     "true": [asdict(a) for a in answers[2 * k]],
                     "new": [asdict(a) for a in answers[2 * k + 1]]})
    print(f"probed {len(requests)} requests in {timer.wall_s:.0f} s", file=sys.stderr)
    return rows


def answers_of(items: list[dict]) -> list[TemplateAnswer]:
    return [TemplateAnswer(**item) for item in items]


def is_known(row: dict) -> bool:
    """The model answers with its true object: its greedy answer names it."""
    return all(a["match"] for a in row["true"])


def prefers_true(row: dict, margin: float = LIKELIHOOD_MARGIN) -> bool:
    """The model prefers the true object to the counterfactual one by ``margin`` nats
    per token (ROME's "knows" test), even when its greedy answer is something else."""
    return all(t["object_logprob"] - n["object_logprob"] >= margin
               for t, n in zip(row["true"], row["new"]))


def evaluate(rows: list[dict], th: ProbeThresholds) -> dict:
    tp = fp = fn = unknown = 0
    for row in rows:
        v_true = verdict_of(score_answers(answers_of(row["true"])), th)
        v_new = verdict_of(score_answers(answers_of(row["new"])), th)
        tp += v_new == "conflicts"
        fn += v_new != "conflicts"
        fp += v_true == "conflicts"
        unknown += (v_true == "unknown") + (v_new == "unknown")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4),
            "unknown_share": round(unknown / (2 * len(rows)), 4) if rows else 0.0,
            "n": len(rows), "probes": 2 * len(rows)}


def calibrate(rows: list[dict]) -> tuple[ProbeThresholds, dict]:
    settings = []
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values))
        if params["conflict_gap"] < params["agree_gap"]:
            continue
        th = ProbeThresholds(**params)
        settings.append((th, evaluate(rows, th)))
    feasible = [(th, m) for th, m in settings if m["precision"] >= TARGET_PRECISION]
    if not feasible:
        raise SystemExit(f"no threshold setting reaches precision {TARGET_PRECISION} "
                         "on the calibration split")
    best_recall = max(m["recall"] for _, m in feasible)
    near = [(th, m) for th, m in feasible if m["recall"] >= best_recall - RECALL_SLACK]
    # most conservative: rank each threshold within its grid, the stricter the higher
    def strictness(th: ProbeThresholds) -> tuple:
        return (GRID["conflict_gap"].index(th.conflict_gap)
                + GRID["known_logprob"].index(th.known_logprob)
                + GRID["agree_gap"].index(th.agree_gap)
                - GRID["agree_similarity"].index(th.agree_similarity), )
    th, metrics = max(near, key=lambda pair: (strictness(pair[0]), pair[1]["recall"]))
    return th, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="first N cases only")
    parser.add_argument("--features", type=Path, default=None,
                        help="cache of the model's answers (read if present, else written)")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()

    if args.features and args.features.exists():
        rows = json.loads(args.features.read_text())
    else:
        rows = compute_features(args.limit, args.threads)
        if args.features:
            args.features.write_text(json.dumps(rows))
    known = [r for r in rows if is_known(r)]
    calib = [r for r in known if r["case_id"] % 2 == 0]
    held_out = [r for r in known if r["case_id"] % 2 == 1]
    th, calib_metrics = calibrate(calib)
    default = ProbeThresholds()
    # the harder population: facts the model prefers the true object for by likelihood,
    # though its greedy answer may be something else (the model half-knows them)
    likely = [r for r in rows if r["case_id"] % 2 == 1 and (is_known(r) or prefers_true(r))]
    everything = [r for r in rows if r["case_id"] % 2 == 1]
    out = []
    for split, subset, facts, thresholds, name in (
            ("held_out", "greedy_answers_true", held_out, th, "calibrated"),
            ("calibration", "greedy_answers_true", calib, th, "calibrated"),
            ("held_out", "greedy_answers_true", held_out, default, "default"),
            ("held_out", "greedy_or_likelihood", likely, th, "calibrated"),
            ("held_out", "all_facts", everything, th, "calibrated")):
        out.append({"model": MODEL, "split": split, "subset": subset,
                    "thresholds_from": name, **evaluate(facts, thresholds),
                    "thresholds": asdict(thresholds)})
    path = write_results("probe_bench", out, out_dir=args.out_dir, extra_meta={
        "dataset": "counterfact-1k.json", "cases": len(rows), "known_cases": len(known),
        "likelihood_margin": LIKELIHOOD_MARGIN, "defaults_are_calibrated": th == default,
        "target_precision_calibration": TARGET_PRECISION, "grid": GRID})
    for row in out:
        print(json.dumps({k: v for k, v in row.items() if k != "thresholds"}))
    print("calibrated thresholds:", json.dumps(asdict(th)))
    print("wrote", path)


if __name__ == "__main__":
    main()
