"""Extraction benchmark: precision, recall and F1 of extracted triples on the EDC gold sets.

    .venv/bin/python bench/extract_bench.py                      # local model, all sets
    .venv/bin/python bench/extract_bench.py --limit 50 --sets wiki-nre
    MEMOIRD_EXTRACT_ENDPOINT=http://127.0.0.1:8000/v1 MEMOIRD_EXTRACT_MODEL=qwen \
        .venv/bin/python bench/extract_bench.py                  # + an OpenAI-compatible server

Data: ../shared/data/extraction/{rebel,webnlg,wiki-nre}.{text,gold}.txt and .schema.csv.
Each set is scored against its own relation schema: extracted relation phrases are mapped
onto it with the same RelationMapper the daemon uses (the built-in schema's aliases are
carried over to relations with the same label or alias).

Strict match: (subject, relation, object) equal after entity normalisation (case, accents,
punctuation, underscores, honorifics, leading article, entity aliases). Partial match: same
relation, and subject and object each either contain one another or share at least half
their tokens; one gold triple per prediction. sentences_per_s counts prompted sentences over
the wall time of extraction only (model loading excluded); the 1-minute load average is in
meta, because this machine's two cores may be shared.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED_DATA, Timer, write_results  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SETS = ("wiki-nre", "rebel", "webnlg")


def load_set(name: str, limit: int | None) -> tuple[list[str], list[list[tuple[str, str, str]]]]:
    folder = SHARED_DATA / "extraction"
    texts = (folder / f"{name}.text.txt").read_text(encoding="utf-8").splitlines()
    gold_lines = (folder / f"{name}.gold.txt").read_text(encoding="utf-8").splitlines()
    if len(texts) != len(gold_lines):
        raise SystemExit(f"{name}: {len(texts)} texts but {len(gold_lines)} gold lines")
    gold = [[tuple(t) for t in ast.literal_eval(line)] for line in gold_lines]
    if limit:
        texts, gold = texts[:limit], gold[:limit]
    return texts, gold


def limit_for(spec: str | None, name: str) -> int | None:
    """``"50"`` -> 50 for every set; ``"wiki-nre=300,rebel=100"`` -> per set (None: all)."""
    if not spec:
        return None
    if "=" not in spec:
        return int(spec)
    limits = dict(part.split("=", 1) for part in spec.split(","))
    return int(limits[name]) if name in limits else None


def partial_entity(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    ta, tb = set(a.split()), set(b.split())
    return len(ta & tb) / max(len(ta), len(tb)) >= 0.5


def score(pred: list[set[tuple[str, str, str]]], gold: list[set[tuple[str, str, str]]]
          ) -> dict[str, float]:
    tp = n_pred = n_gold = ptp = 0
    for p, g in zip(pred, gold):
        n_pred += len(p)
        n_gold += len(g)
        tp += len(p & g)
        left = list(g)
        for s, r, o in sorted(p):
            for k, (gs, gr, go) in enumerate(left):
                if r == gr and partial_entity(s, gs) and partial_entity(o, go):
                    ptp += 1
                    del left[k]
                    break

    def f1(hits: int) -> tuple[float, float, float]:
        prec = hits / n_pred if n_pred else 0.0
        rec = hits / n_gold if n_gold else 0.0
        return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)

    sp, sr, sf = f1(tp)
    pp, pr, pf = f1(ptp)
    return {"strict_p": round(sp, 4), "strict_r": round(sr, 4), "strict_f1": round(sf, 4),
            "partial_p": round(pp, 4), "partial_r": round(pr, 4), "partial_f1": round(pf, 4),
            "predicted": n_pred, "gold": n_gold}


def run_set(name: str, chat: Any, args: argparse.Namespace, backend: str) -> dict[str, Any]:
    from memoird.extractors.normalize import entity_key
    from memoird.extractors.schema import RelationMapper, RelationSchema
    from memoird.extractors.triples import PROMPT_VERSION, TripleExtractor

    texts, gold = load_set(name, limit_for(args.limit, name))
    schema = RelationSchema.from_csv(SHARED_DATA / "extraction" / f"{name}.schema.csv",
                                     enrich_from=RelationSchema.default())
    extractor = TripleExtractor(chat, schema, mapper=RelationMapper(schema,
                                threshold=args.threshold),
                                shots=args.shots, route_examples=not args.no_route,
                                batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    reports: list[Any] = []
    with Timer() as timer:
        facts = extractor.extract_many(texts, reports)
    sentences = sum(1 for doc in reports for r in doc if r.skipped is None)
    pred = [{(entity_key(f.subject), f.relation, entity_key(f.object)) for f in doc
             if f.relation} for doc in facts]
    gold_keys = [{(entity_key(s), r, entity_key(o)) for s, r, o in doc} for doc in gold]
    rejected = Counter(why.split(" '")[0] for doc in reports for r in doc
                       for _, why in r.rejected)
    parsed = sum(r.parsed for doc in reports for r in doc)
    unmapped = sum(1 for doc in facts for f in doc if not f.relation)
    row = {"dataset": name, "backend": backend, "model": chat.name,
           "prompt_version": PROMPT_VERSION, "lines": len(texts), "sentences": sentences,
           **score(pred, gold_keys),
           "sentences_per_s": round(sentences / timer.wall_s, 3),
           "wall_s": round(timer.wall_s, 1), "cpu_s": round(timer.cpu_s, 1),
           "parsed_triples": parsed, "unmapped_facts": unmapped,
           "rejected": dict(rejected), "shots": args.shots, "routed": not args.no_route,
           "batch_size": args.batch_size, "threads": args.threads,
           "workers": args.workers, "dtype": args.dtype,
           "load_avg_1m_after": round(os.getloadavg()[0], 2)}
    if args.dump:
        Path(args.dump).mkdir(parents=True, exist_ok=True)
        with open(Path(args.dump) / f"{name}.{backend}.jsonl", "w", encoding="utf-8") as out:
            for text, doc, g, rep in zip(texts, facts, gold, reports):
                out.write(json.dumps({
                    "text": text, "gold": g,
                    "units": [{"text": r.text, "reply": r.reply, "skipped": r.skipped,
                               "rejected": [[*t.__dict__.values(), why] for t, why in r.rejected]}
                              for r in rep],
                    "facts": [[f.subject, f.raw_relation, f.relation, f.object] for f in doc]},
                    ensure_ascii=False) + "\n")
    if args.show:
        for text, doc, g, rep in list(zip(texts, facts, gold, reports))[: args.show]:
            print("##", text)
            print("   reply:", " / ".join(r.reply.replace("\n", "; ") for r in rep))
            print("   facts:", [(f.subject, f.relation, f.object) for f in doc])
            print("   gold: ", g)
    return row


class ReplayChat:
    """Answers with the replies recorded by an earlier --dump run (same prompt version)."""

    def __init__(self, path: Path):
        self.name = f"replay:{path.name}"
        self.replies: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            for unit in json.loads(line)["units"]:
                self.replies[unit["text"]] = unit["reply"]

    def chat(self, batch, max_new_tokens, temperature=0.0):
        from memoird.extractors.triples import defuse

        lookup = {f"<text>{defuse(k)}</text>": v for k, v in self.replies.items()}
        return [lookup.get(c[-1]["content"], "") for c in batch]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    ap.add_argument("--limit", default=None,
                    help="first N lines of each set: N, or per set as wiki-nre=300,rebel=100")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                    help="float32 (the daemon's default) ran 2x faster than bfloat16 on a CPU without bf16 units")
    ap.add_argument("--batch-size", type=int, default=48)
    ap.add_argument("--workers", type=int, default=1,
                    help="batches decoded at once, each on its share of the threads")
    ap.add_argument("--max-new-tokens", type=int, default=64,
                    help="64: strict F1 0.3774 vs 0.3779 with 80 on 192 wiki-nre lines, 2%% faster")
    ap.add_argument("--shots", type=int, default=4,
                    help="few-shot examples per prompt (4: strict F1 0.385 vs 0.354 with 5 on 300 wiki-nre lines, and a shorter prompt)")
    ap.add_argument("--no-route", action="store_true", help="same examples for every sentence")
    ap.add_argument("--threshold", type=float, default=0.6, help="relation mapping threshold")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--data-dir", default=str(REPO / ".cache" / "test-data"))
    ap.add_argument("--no-local", action="store_true", help="only the endpoint backend")
    ap.add_argument("--endpoint", default=os.environ.get("MEMOIRD_EXTRACT_ENDPOINT"))
    ap.add_argument("--endpoint-model", default=os.environ.get("MEMOIRD_EXTRACT_MODEL", ""))
    ap.add_argument("--show", type=int, default=0, help="print the first N lines' details")
    ap.add_argument("--out", default=None, help="results folder (default bench/results)")
    ap.add_argument("--dump", default=None,
                    help="folder for per-line replies and facts (JSONL, for error analysis)")
    ap.add_argument("--replay", default=None,
                    help="folder of an earlier --dump: reuse its replies instead of a model "
                         "(re-scores parsing, grounding and mapping changes in seconds)")
    args = ap.parse_args()

    rows: list[dict[str, Any]] = []
    extra = {"data": "../shared/data/extraction/{set}.text.txt, {set}.gold.txt, "
                     "{set}.schema.csv", "limit": args.limit}

    def save() -> Path:  # after every set, so a long run killed midway keeps its rows
        return write_results("extract_bench", rows, extra_meta=extra,
                             out_dir=Path(args.out) if args.out else None)

    if args.replay:
        for name in args.sets:
            rows.append(run_set(name, ReplayChat(Path(args.replay) / f"{name}.local.jsonl"),
                                args, "replay"))
            print(rows[-1], flush=True)
        args.no_local, args.endpoint = True, None
    if not args.no_local:
        import torch

        from memoird.editor.model import load_base
        from memoird.extractors.chat import LocalChat

        torch.set_num_threads(args.threads)
        started = time.perf_counter()
        loaded = load_base(args.model, Path(args.data_dir), device="auto", dtype=args.dtype)
        print(f"loaded {loaded.name} in {time.perf_counter() - started:.1f}s", flush=True)
        chat = LocalChat(loaded.model, loaded.tokenizer, name=loaded.name,
                         batch_size=args.batch_size, workers=args.workers)
        for name in args.sets:
            rows.append(run_set(name, chat, args, "local"))
            print(rows[-1], flush=True)
            save()
    if args.endpoint:
        from memoird.extractors.chat import OpenAIChat

        with OpenAIChat(args.endpoint, args.endpoint_model or "default",
                        concurrency=16) as chat:
            for name in args.sets:
                rows.append(run_set(name, chat, args, "openai"))
                print(rows[-1], flush=True)
                save()
    path = save()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
