"""Development sweep of the memory-layer fold (editor/nullspace.py): whole-memory folds over a
grid of method, null-space share / ridge, key positions and preserved-sample size, measured
cheaply (reliability without memory on the edit prompts, greedy answers kept on the check
prompts, both teacher-forced) to choose what bench/distill_bench.py then measures in full.

    .venv/bin/python bench/nullspace_sweep.py --T 100 --threads 1     # -> bench/results/dev/

Needs the cached memory of bench/distill_bench.py (``--edits-only``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED_DATA, write_results  # noqa: E402
from distill_bench import MODEL, preserved_sample  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, nargs="+", default=[4096, 16384, 65536])
    ap.add_argument("--grid", default="default", help="default | quick")
    ap.add_argument("--name", default="nullspace_sweep")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from memoird.editor.distill import text_chunks
    from memoird.editor.memoir import Memoir
    from memoird.editor.model import convert_builtin, load_base
    from memoird.editor.nullspace import MemoryFold, NullSpaceConfig, preserved_covariance

    data_dir = Path(os.environ.get("MEMOIRD_TEST_CACHE", REPO / ".cache" / "test-data"))
    base_dir = convert_builtin(MODEL, data_dir)
    data = json.loads((SHARED_DATA / "editing" / "zsre-1k.json").read_text())
    data = [x for x in data if x["src"].strip() and x["alt"].strip()]
    items = data[: args.T]
    loaded = load_base(MODEL, base_dir.parent.parent, device="cpu")
    mem = Memoir.load(REPO / ".cache" / "bench" / "distill" / f"zsre-{args.T}.memoir",
                      loaded.model, loaded.tokenizer)
    mem.path = None
    texts, prompts, check = preserved_sample(items)
    started = time.perf_counter()
    fold = MemoryFold(mem, [], prompts, check, NullSpaceConfig(preserved_tokens=0))
    fold.prepare()  # keys, the prompts' covariance, the check references
    prep_s = time.perf_counter() - started
    cov_prompts, n_prompts = fold.cov, fold.count
    # text covariances for growing samples (prefixes of one token stream)
    covs = {}
    chunks = text_chunks(loaded.tokenizer, texts, 64, max(args.tokens))
    done, acc, at = 0, torch.zeros_like(cov_prompts), 0
    for n in sorted(args.tokens):
        part = []
        while at < len(chunks) and done < n:
            part.append(loaded.tokenizer.decode(chunks[at]))
            done += len(chunks[at])
            at += 1
        if part:
            with mem.disabled():
                c, k = preserved_covariance(loaded.model, loaded.tokenizer, fold.down, part, [], n)
            acc = acc + c
        covs[n] = (acc.clone(), done)
    rows = []
    ids = fold.edit_ids
    if args.grid == "quick":
        grid = ([("alphaedit", t, r, p) for t in (1e-3, 1e-2, 5e-2) for r in (0.1, 1.0)
                 for p in ("answer", "all")]
                + [("memit", 0.0, r, "answer") for r in (1.0, 10.0)])
    else:
        grid = ([("alphaedit", t, r, p) for t in (1e-4, 1e-3, 1e-2, 3e-2) for r in (0.01, 0.1)
                 for p in ("all", "answer")]
                + [("memit", 0.0, r, p) for r in (0.1, 1.0, 10.0) for p in ("all", "answer")])
    base_loc = fold.check_locality(torch.zeros_like(fold.down.weight))
    print(f"prep {prep_s:.0f}s; check locality of the unchanged base {base_loc:.3f}", flush=True)
    for n, (cov_text, n_text) in covs.items():
        fold.cov, fold.count = cov_prompts + cov_text, n_prompts + n_text
        for method, thr, ridge, pos in grid:
            if n != max(covs) and not (method == "alphaedit" and ridge == 0.1):
                continue  # the sample-size question is asked of one setting per threshold
            t0 = time.perf_counter()
            fold.config = replace(fold.config, method=method, threshold=thr or 1e-2, ridge=ridge,
                                  positions=pos)
            delta, dim = fold.solve(ids, (), thr or None)
            rel = len(fold.reproduced(delta, ids)) / len(ids)
            loc = fold.check_locality(delta)
            row = {"model": MODEL, "T": args.T, "method": method, "threshold": thr, "ridge": ridge,
                   "positions": pos, "text_tokens": n_text, "prompt_tokens": n_prompts,
                   "null_dim": dim, "rel_em": rel, "check_locality": loc,
                   "delta_norm": float(delta.norm()), "seconds": time.perf_counter() - t0}
            print(json.dumps(row), flush=True)
            rows.append(row)
    write_results(args.name, rows, out_dir=REPO / "bench" / "results" / "dev",
                  extra_meta={"dataset": "zsre-1k.json", "check_prompts": len(check),
                              "base_check_locality": base_loc})


if __name__ == "__main__":
    main()
