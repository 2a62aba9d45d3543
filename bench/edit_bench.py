"""Sequential editing benchmark: memoird's MEMOIR against the paper's procedure, FT-L and no routing.

For each data set (zsRE, CounterFact from ../shared/data/editing/) the first T items are
edited one after another into one memory, and after all T edits every edited item is scored:
Reliability (the edit prompt), Generalisation (its paraphrase) and Locality (zsRE: an
unrelated NQ question; CounterFact: a *neighbour*, same relation and another subject),
each as teacher-forced token accuracy (``*_tf``, as in the papers; locality = agreement
with the base model's argmax) and as exact match of greedy generation (``*_em``; locality =
the same tokens as the base model's greedy answer). One sequential run of max(T) edits is
scored at every T (T=10 is the state after the first 10 edits of the same run).

Methods:
- ``memoird``: cached upper-layer training, subject-gated routing, τ calibrated on the
  *other* data set's paraphrases (never on the scored split).
- ``no-routing``: the same memory, applied to every prompt with the prompt's own mask.
- ``reference``: the paper's procedure: full forward + backward per step, ten context
  prefixes, mean-decentred TopHash routing with τ = 0.4 (same layer and k).
- ``ft-l``: fine-tuning the same layer's down_proj (all columns, no memory, no routing).

Edit times are the training time per edit (commit to disk excluded, reported separately).
The latency ratio is greedy generation (8 tokens forced, batch 1, edited and unedited
prompts alternating) with the memory at T over the same without the wrapper, interleaved
rounds, median; it is measured at each method's largest T.

Progress is saved after every edit (the memory file itself, plus a JSON-lines log), so a
killed run resumes where it stopped:

    .venv/bin/python bench/edit_bench.py --T 10 100 1000 --methods memoird no-routing ft-l \\
        --reference-T 10
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS, SHARED_DATA, write_results  # noqa: E402

import torch  # noqa: E402

from memoird.editor.memoir import EditRequest, Memoir, MemoirConfig  # noqa: E402
from memoird.editor.model import load_base  # noqa: E402
from memoird.editor.routing import calibrate_tau  # noqa: E402
from memoird.editor.train import Segment, build_batch, capture, fit_columns  # noqa: E402

DATASETS = {"zsre": "zsre-1k.json", "counterfact": "counterfact-1k.json"}


@dataclass(frozen=True)
class Item:
    prompt: str
    target: str
    rephrase: str
    loc: str
    loc_answer: str
    subject: str


def load_items(dataset: str, data_dir: Path) -> list[Item]:
    """The data set's items in order, minus those that are no edit (zsRE 534 and 723 have
    an empty new target); T counts the items kept, as bench/distill_bench.py does."""
    rows = json.loads((data_dir / "editing" / DATASETS[dataset]).read_text())
    if dataset == "zsre":
        items = [Item(r["src"], r["alt"], r["rephrase"], r["loc"], r["loc_ans"], r["subject"]) for r in rows]
    else:
        items = [
            Item(r["prompt"], r["target_new"], r["rephrase_prompt"], r["locality_prompt"],
                 r["locality_ground_truth"], r["subject"])
            for r in rows
        ]
    return [it for it in items if it.prompt.strip() and it.target.strip()]


def request(dataset: str, i: int, item: Item) -> EditRequest:
    return EditRequest(f"{dataset}-{i}", item.prompt, item.target, subject=item.subject)


# --------------------------------------------------------------------------- scoring
def scored(mem: Memoir, prompts: list[str], answers: list[str], batch: int):
    out = []
    for s in range(0, len(prompts), batch):
        out += mem.score(prompts[s : s + batch], answers[s : s + batch])
    return out


def generated(mem: Memoir, prompts: list[str], lengths: list[int], batch: int) -> list[list[int]]:
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    out: dict[int, list[int]] = {}
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        rows = mem.generate_ids([prompts[i] for i in idx], max_new_tokens=max(lengths[i] for i in idx))
        for i, row in zip(idx, rows):
            out[i] = row[: lengths[i]]
    return [out[i] for i in range(len(prompts))]


def base_locality(mem: Memoir, items: list[Item], batch: int, cache: Path) -> dict:
    """The base model's teacher-forced argmax and greedy tokens on the locality prompts."""
    prompts = [it.loc for it in items]
    if cache.exists():  # reused only for the very same prompts (a data filter shifts them)
        got = json.loads(cache.read_text())
        if got.get("prompts", [])[: len(items)] == prompts:
            return {k: v[: len(items)] for k, v in got.items() if k in ("tf", "gen", "len")}
    with mem.disabled():
        s = scored(mem, prompts, [it.loc_answer for it in items], batch)
        lengths = [len(x.target) for x in s]
        gen = generated(mem, prompts, lengths, batch)
    got = {"prompts": prompts, "tf": [x.predicted for x in s], "gen": gen, "len": lengths}
    cache.write_text(json.dumps(got))
    return {k: v for k, v in got.items() if k != "prompts"}


def evaluate(mem: Memoir, items: list[Item], base: dict, batch: int) -> dict:
    rel = scored(mem, [it.prompt for it in items], [it.target for it in items], batch)
    gen = scored(mem, [it.rephrase for it in items], [it.target for it in items], batch)
    loc = scored(mem, [it.loc for it in items], [it.loc_answer for it in items], batch)
    rel_g = generated(mem, [it.prompt for it in items], [len(x.target) for x in rel], batch)
    gen_g = generated(mem, [it.rephrase for it in items], [len(x.target) for x in gen], batch)
    loc_g = generated(mem, [it.loc for it in items], base["len"], batch)
    n = len(items)
    mean = lambda xs: round(sum(xs) / n, 4)  # noqa: E731
    loc_tf = [
        sum(p == b for p, b in zip(x.predicted, bp)) / len(bp) for x, bp in zip(loc, base["tf"])
    ]
    return {
        "rel_em": mean([g == x.target for g, x in zip(rel_g, rel)]),
        "gen_em": mean([g == x.target for g, x in zip(gen_g, gen)]),
        "loc_em": mean([g == b for g, b in zip(loc_g, base["gen"])]),
        "rel_tf": mean([x.token_accuracy for x in rel]),
        "gen_tf": mean([x.token_accuracy for x in gen]),
        "loc_tf": mean(loc_tf),
        "rel_routed": mean([x.edit_id is not None for x in rel]),
        "gen_routed_own": mean([x.edit_id == f for x, f in zip(gen, [r.edit_id for r in rel])]),
        "loc_routed": mean([x.edit_id is not None for x in loc]),
    }


def latency_ratio(mem: Memoir, items: list[Item], rounds: int, tokens: int = 8) -> dict:
    """Median over interleaved rounds of routed / base wall time, batch 1 greedy generation."""
    prompts = [p for it in items[:4] for p in (it.prompt, it.loc)]
    layer = mem.decoder.layers[mem.layer].mlp
    ratios, routed_s, base_s = [], [], []

    def run() -> float:
        t = time.perf_counter()
        for p in prompts:
            mem.generate_ids([p], max_new_tokens=tokens, min_new_tokens=tokens)  # same work, EOS or not
        return time.perf_counter() - t

    run()  # warm-up
    for _ in range(rounds):
        r = run()
        layer.down_proj = mem.wrapper.base  # the plain model, no wrapper at all
        try:
            b = run()
        finally:
            layer.down_proj = mem.wrapper
        ratios.append(r / b)
        routed_s.append(r)
        base_s.append(b)
    return {
        "latency_ratio": round(statistics.median(ratios), 4),
        "latency_routed_s": round(statistics.median(routed_s) / len(prompts), 4),
        "latency_base_s": round(statistics.median(base_s) / len(prompts), 4),
    }


# --------------------------------------------------------------------------- methods
class FineTune:
    """FT-L: sequentially fine-tune the edited layer's down_proj itself (all columns)."""

    def __init__(self, mem: Memoir, cfg: MemoirConfig):
        self.mem, self.cfg = mem, cfg
        self.base = mem.wrapper.base
        self.original = self.base.weight.detach().clone()

    def edit(self, req: EditRequest) -> float:
        started = time.perf_counter()
        mem = self.mem
        batch = build_batch(mem.tokenizer, [req.prompt], req.target, mem.device)
        part = Segment(batch, capture(mem.decoder, mem.layer, mem.wrapper, batch))
        cols = torch.arange(self.base.in_features, device=mem.device)
        zero = torch.zeros_like(self.base.weight)
        cfg = self.cfg
        fit = fit_columns(mem.model, mem.decoder, mem.layer, [part], zero, cols,
                          cfg.steps, cfg.step_size, cfg.stop_loss, cfg.optimizer)
        with torch.no_grad():
            self.base.weight += fit.weight
        return time.perf_counter() - started

    def restore(self) -> None:
        with torch.no_grad():
            self.base.weight.copy_(self.original)


def cross_tau(mem: Memoir, other: list[Item], n: int, quantile: float) -> float:
    """τ from the other data set's paraphrase-to-prompt TopHash overlaps."""
    prompts = mem.tophash([it.prompt for it in other[:n]])
    rephr = mem.tophash([it.rephrase for it in other[:n]])
    overlaps = [len(set(a.tolist()) & set(b.tolist())) / mem.config.k for a, b in zip(prompts, rephr)]
    return round(calibrate_tau(overlaps, quantile), 4)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# --------------------------------------------------------------------------- driver
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--data-dir", type=Path, default=REPO / ".cache" / "test-data",
                    help="memoird data dir holding converted built-in checkpoints")
    ap.add_argument("--shared", type=Path, default=SHARED_DATA)
    ap.add_argument("--datasets", nargs="+", default=["zsre", "counterfact"], choices=list(DATASETS))
    ap.add_argument("--T", nargs="+", type=int, default=[10, 100, 1000])
    ap.add_argument("--methods", nargs="+", default=["memoird", "no-routing", "ft-l", "reference"])
    ap.add_argument("--reference-T", nargs="+", type=int, default=[10],
                    help="T values for the slow reference procedure")
    ap.add_argument("--ftl-T", nargs="+", type=int, default=None, help="T values for FT-L (default: --T)")
    ap.add_argument("--layer", type=int, default=None)
    ap.add_argument("--k", type=int, default=None)
    ap.add_argument("--tau", type=float, default=None, help="fixed τ (default: cross-calibrated)")
    ap.add_argument("--tau-quantile", type=float, default=0.02)
    ap.add_argument("--prefixes", type=int, default=MemoirConfig.prefixes)
    ap.add_argument("--replay", type=int, default=MemoirConfig.replay)
    ap.add_argument("--variants", type=int, default=MemoirConfig.variants)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--optimizer", default="adam", choices=["sgd", "adam"])
    ap.add_argument("--lr", type=float, default=None, help="step size (default: 0.05 Adam, 1.0 SGD)")
    ap.add_argument("--stop-loss", type=float, default=0.05)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--latency-rounds", type=int, default=5)
    ap.add_argument("--latency-T", nargs="+", type=int, default=None,
                    help="T values at which to time routed inference (default: each method's largest T)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared machine)")
    ap.add_argument("--work", type=Path, default=REPO / ".cache" / "edit_bench")
    ap.add_argument("--name", default="edit_bench", help="results file name (bench/results/NAME.json)")
    ap.add_argument("--fresh", action="store_true", help="ignore saved progress")
    ap.add_argument("--merge", nargs="+", default=None, metavar="NAME",
                    help="only merge bench/results/NAME.json files (runs split across processes) into --name")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, args.name)
        return
    torch.set_num_threads(args.threads)

    loaded = load_base(args.model, args.data_dir, device="auto")
    model, tok = loaded.model, loaded.tokenizer
    args.work.mkdir(parents=True, exist_ok=True)
    out_path = RESULTS / f"{args.name}.json"
    rows: list[dict] = []
    if out_path.exists() and not args.fresh:
        rows = json.loads(out_path.read_text())["rows"]
    lr = {} if args.lr is None else ({"adam_lr": args.lr} if args.optimizer == "adam" else {"lr": args.lr})
    config = MemoirConfig(layer=args.layer, k=args.k, steps=args.steps, optimizer=args.optimizer,
                          stop_loss=args.stop_loss, prefixes=args.prefixes, replay=args.replay,
                          variants=args.variants, **lr)

    def save_rows(extra: dict) -> None:
        write_results(args.name, rows, extra_meta=extra)
        plot(rows, RESULTS / f"{args.name}.png")

    meta_extra: dict = {"data": [f"../shared/data/editing/{DATASETS[d]}" for d in args.datasets]}
    for dataset in args.datasets:
        items = load_items(dataset, args.shared)
        other = load_items("counterfact" if dataset == "zsre" else "zsre", args.shared)
        max_t = max(args.T)
        probe = Memoir.attach(model, tok, config)
        probe.fit_background()
        tau = args.tau if args.tau is not None else cross_tau(probe, other, 200, args.tau_quantile)
        base = base_locality(probe, items[:max_t], args.batch, args.work / f"{dataset}-base-loc.json")
        resolved = probe.config
        probe.detach()
        meta_extra[f"tau_{dataset}"] = tau
        print(f"[{dataset}] layer={resolved.layer} k={resolved.k} tau={tau}", flush=True)

        plans = []
        if "memoird" in args.methods:
            plans.append(("memoird", replace(config, tau=tau), args.T))
        if "reference" in args.methods:
            plans.append(("reference", replace(config, strategy="mask", tau=0.4, prefixes=10,
                                               full_forward=True, optimizer="sgd", lr=1.0,
                                               steps=30, stop_loss=0.05, replay=0, variants=0),
                    args.reference_T))
        if "ft-l" in args.methods:
            plans.append(("ft-l", config, args.ftl_T or args.T))
        for method, cfg, t_values in plans:
            run_method(args, rows, save_rows, model, tok, dataset, items, base, method, cfg,
                       sorted(t_values), no_routing="no-routing" in args.methods)
    save_rows(meta_extra)
    print(json.dumps(rows, indent=1))


def merge(names: list[str], into: str) -> None:
    rows, metas = [], {}
    for name in names:
        got = json.loads((RESULTS / f"{name}.json").read_text())
        rows += got["rows"]
        metas[name] = got["meta"]
    write_results(into, rows, extra_meta={"merged_from": metas})
    plot(rows, RESULTS / f"{into}.png")


def done_rows(rows: list[dict], dataset: str, method: str, t: int) -> bool:
    return any(r["dataset"] == dataset and r["method"] == method and r["T"] == t for r in rows)


def run_method(args, rows, save_rows, model, tok, dataset, items, base, method, cfg, t_values,
               no_routing: bool) -> None:
    wanted = [t for t in t_values if not done_rows(rows, dataset, method, t)
              or (method == "memoird" and no_routing and not done_rows(rows, dataset, "no-routing", t))]
    if not wanted:
        return
    tag = (f"{dataset}-{method}-L{cfg.layer}-k{cfg.k}-p{cfg.prefixes}-{cfg.optimizer}{cfg.step_size:g}"
           f"-s{cfg.stop_loss:g}-r{cfg.replay}-v{cfg.variants}")
    mem_path = args.work / f"{tag}.memoir"
    log_path = args.work / f"{tag}.jsonl"
    if args.fresh:
        for p in (mem_path, log_path):
            p.unlink(missing_ok=True)
    if method == "ft-l":  # FT-L keeps no memory file: always start over
        mem_path.unlink(missing_ok=True)
        log_path.unlink(missing_ok=True)
    persist = method == "memoird"
    if persist and mem_path.exists():
        mem = Memoir.load(mem_path, model, tok)
    else:
        mem = Memoir.attach(model, tok, cfg, path=mem_path if persist else None)
        mem.fit_background()
        log_path.unlink(missing_ok=True)
    times: list[dict] = [json.loads(x) for x in log_path.read_text().splitlines()] if log_path.exists() else []
    ft = FineTune(mem, cfg) if method == "ft-l" else None
    try:
        done = len(mem) if ft is None else 0
        for t in wanted:
            for i in range(done, t):
                req = request(dataset, i, items[i])
                started = time.perf_counter()
                if ft is not None:
                    train_s, steps = ft.edit(req), None
                else:
                    res = mem.edit(req)
                    train_s, steps = res.seconds, res.steps
                entry = {"i": i, "train_s": train_s, "total_s": time.perf_counter() - started, "steps": steps}
                times.append(entry)
                with log_path.open("a") as fh:
                    fh.write(json.dumps(entry) + "\n")
                if (i + 1) % 25 == 0:
                    recent = [x["train_s"] for x in times[-25:]]
                    print(f"[{dataset} {method}] {i + 1} edits, median {statistics.median(recent):.2f}s", flush=True)
            done = t
            scored_items = items[:t]
            edit_s = [x["train_s"] for x in times[:t]]
            commit_s = [x["total_s"] - x["train_s"] for x in times[:t]]
            size = mem_path.stat().st_size if persist else mem.save(args.work / "tmp-size.memoir")
            common = {
                "model": args.model, "dataset": dataset, "T": t, "layer": mem.layer, "k": mem.config.k,
                "tau": mem.config.tau, "prefixes": mem.config.prefixes,
                "optimizer": mem.config.optimizer, "lr": mem.config.step_size,
                "stop_loss": mem.config.stop_loss,
                "replay": mem.config.replay, "variants": mem.config.variants,
                "edit_s_median": round(statistics.median(edit_s), 4),
                "edit_s_p95": round(percentile(edit_s, 0.95), 4),
                "commit_s_median": round(statistics.median(commit_s), 4) if persist else None,
                "steps_mean": round(sum(x["steps"] or 0 for x in times[:t]) / t, 2) if ft is None else None,
            }
            print(f"[{dataset} {method}] scoring T={t}", flush=True)
            if method == "memoird" and no_routing and not done_rows(rows, dataset, "no-routing", t):
                mem.config = replace(mem.config, strategy="always")
                mem._rebuild_router()
                try:
                    metrics = evaluate(mem, scored_items, base, args.batch)
                finally:
                    mem.config = replace(mem.config, strategy=cfg.strategy)
                    mem._rebuild_router()
                rows.append({**common, "method": "no-routing", **metrics, "latency_ratio": None,
                             "bytes_per_edit": round(size / t, 1),
                             "note": "memoird's memory applied to every prompt with its own TopHash mask"})
                save_rows({})
            if not done_rows(rows, dataset, method, t):
                metrics = evaluate(mem, scored_items, base, args.batch)
                timed = method != "ft-l" and t in (args.latency_T or [max(t_values)])
                lat = latency_ratio(mem, scored_items, args.latency_rounds) if timed else {}
                note = {
                    "reference": f"paper procedure (full forward per step, 10 prefixes, mask routing tau=0.4); run at T in {t_values} only",
                    "ft-l": "dense update of the same down_proj, no routing",
                }.get(method)
                rows.append({**common, "method": method, **metrics, **lat,
                             "latency_ratio": lat.get("latency_ratio"),
                             "bytes_per_edit": round(size / t, 1) if ft is None else None,
                             "note": note})
                save_rows({})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        if ft is not None:
            ft.restore()
        mem.detach()


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in rows})
    if not datasets:
        return
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    styles = {"rel_em": "-", "gen_em": "--", "loc_em": ":"}
    colors = {"memoird": "C0", "no-routing": "C1", "reference": "C2", "ft-l": "C3"}
    for ax, dataset in zip(axes[0], datasets):
        for method in colors:
            sub = sorted((r for r in rows if r["dataset"] == dataset and r["method"] == method), key=lambda r: r["T"])
            if not sub:
                continue
            for metric, style in styles.items():
                ax.plot([r["T"] for r in sub], [r[metric] for r in sub], style, marker="o",
                        color=colors[method], label=f"{method} {metric}")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("T (sequential edits)")
        ax.set_title(f"{dataset} (greedy exact match)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
