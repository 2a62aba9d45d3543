"""Distillation benchmark: fold T sequential zsRE edits into the embedded model's weights.

For each T: apply the first T zsRE edits (../shared/data/editing/zsre-1k.json) one after
another with MEMOIR on SmolLM2-135M-Instruct (the memory file is cached under
.cache/bench/distill/ so reruns skip this), distil the memory into a new checkpoint
(editor/distill.py), and measure the candidate WITHOUT any memory:

- rel_em: greedy exact match of the new target on the edit prompt (``src``)
- gen_em: the same on the held-out paraphrase (``rephrase``, never trained on)
- loc_em: share of unrelated NQ prompts (``loc`` + ``loc_ans``, never trained on) whose
  teacher-forced greedy tokens all equal the ORIGINAL base's; loc_tf: per-token share
- ppl_drift: relative perplexity change against the original base on held-out feed text
  (articles of feeds that are not used as replay text)
- wall_s: teacher examples + training + writing the checkpoint (not the edits)

Replay text (unrelated prompts the student must keep answering like the base): the
package's background prompts and the article text of the other English feeds.

    .venv/bin/python bench/distill_bench.py --T 10 100            # development
    .venv/bin/python bench/distill_bench.py --T 100 1000          # the reported figures
    .venv/bin/python bench/distill_bench.py --T 100 --method fold --append   # closed-form fold
    .venv/bin/python bench/distill_bench.py --T 100 --method kl --append     # KL to the teacher

The KL fold's teacher batches are cached (``.cache/bench/distill/kl-prepared-*.pt``, keyed by
their inputs), so a rerun that changes only training settings reports ``wall_s`` without
the teacher passes (``teacher_s`` says what was spent there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Before torch starts OpenMP: on a shared CPU, busy-waiting worker threads made every
# small matmul ~40x slower (measured 70 ms vs 1.8 ms for a 15x1536 @ 1536x576 product).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED_DATA, Timer, write_results  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL = "smollm2-135m-instruct"
# Feeds whose articles are English prose; the first group is replayed, the second held out.
REPLAY_FEEDS = ("TechCrunch.xml", "SamRuby.xml", "TypePadNews.xml")
HELDOUT_FEEDS = ("json_feed.json", "DuplicateContentAtomFeed.xml", "miniflux-large_atom.xml")


def feed_texts(names: tuple[str, ...]) -> list[str]:
    from memoird.extractors.article import entries_to_articles
    from memoird.extractors.feed import parse_feed

    texts = []
    for name in names:
        path = SHARED_DATA / "feeds" / name
        parsed = parse_feed(path.read_bytes(), url=f"http://bench.invalid/{name}")
        texts += [a.text for a in entries_to_articles(parsed.entries) if a.text and a.text.strip()]
    return texts


def anchor_prompts(items: list[dict], swapped_per_edit: int = 0) -> list[str]:
    """Prompts about other facts, standing in for the daemon's anchors (daemon/distill_job.py).

    With ``swapped_per_edit``, first each edit's question with other subjects, as the daemon
    does (CounterFact's subjects stand in for the daemon's extracted ones). Then the background prompts
    and CounterFact's prompts and neighbour prompts (cloze form), minus any naming an
    edited subject. zsRE's NQ locality questions are never trained on.
    """
    from memoird.editor.background import BACKGROUND_PROMPTS
    from memoird.editor.distill import swapped_subject_prompts

    subjects = [x["subject"].casefold() for x in items]
    data = json.loads((SHARED_DATA / "editing" / "counterfact-1k.json").read_text())
    others = [x["subject"] for x in data if not any(s in x["subject"].casefold() or
                                                    x["subject"].casefold() in s for s in subjects)]
    swapped = swapped_subject_prompts([(x["src"], x["subject"]) for x in items], others,
                                      per_edit=swapped_per_edit)
    prompts = [p for x in data for p in (x["prompt"], x["locality_prompt"])]
    prompts = [p for p in prompts if not any(s in p.casefold() for s in subjects)]
    return swapped + list(BACKGROUND_PROMPTS) + prompts


def edited_memory(loaded, items: list[dict], cache_dir: Path, progress: bool):
    """The memory after T sequential edits: from the cache, or made (resumably) and cached.

    Edits are applied in dataset order into ``zsre-progress.memoir`` (committed after
    every edit by Memoir), so T=100 is a prefix of T=1000 and an interrupted run goes on
    where it stopped; ``zsre-T.memoir`` is a copy taken when the T-th edit is in.
    """
    import shutil

    from tqdm import tqdm

    from memoird.editor.memoir import EditRequest, Memoir

    T = len(items)
    final = cache_dir / f"zsre-{T}.memoir"
    if final.exists():
        return Memoir.load(final, loaded.model, loaded.tokenizer), None
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = cache_dir / "zsre-progress.memoir"
    mem = Memoir.open(work, loaded.model, loaded.tokenizer)
    if len(mem) > T:
        raise SystemExit(f"{work} holds {len(mem)} edits, more than T={T}; delete it to redo")
    started = time.perf_counter()
    for i in tqdm(range(len(mem), T), desc="edits", disable=not progress, initial=len(mem), total=T):
        item = items[i]
        mem.edit(EditRequest(str(i), item["src"], item["alt"], subject=item["subject"]))
        for snap in SNAPSHOTS:
            if len(mem) == snap and not (cache_dir / f"zsre-{snap}.memoir").exists():
                shutil.copyfile(work, cache_dir / f".zsre-{snap}.tmp")
                os.replace(cache_dir / f".zsre-{snap}.tmp", cache_dir / f"zsre-{snap}.memoir")
    if not final.exists():
        shutil.copyfile(work, final)
    return mem, time.perf_counter() - started


SNAPSHOTS = (10, 100, 998)


def run_one(T: int, args, data: list[dict], base_dir: Path, cache_dir: Path) -> dict:
    from memoird.editor import distill
    from memoird.editor.model import load_base

    items = data[:T]
    loaded = load_base(MODEL, base_dir.parent.parent, device=args.device)
    mem, edit_s = edited_memory(loaded, items, cache_dir, args.progress)
    if args.edits_only:
        mem.detach()
        return {}
    if args.method == "fold":
        return fold_one(T, args, items, loaded, mem, edit_s, base_dir, cache_dir)
    if args.method in ("alphaedit", "memit"):
        return nullspace_one(T, args, items, loaded, mem, edit_s, base_dir, cache_dir)
    if args.method == "kl":
        return kl_one(T, args, items, loaded, mem, edit_s, base_dir, cache_dir)
    served_before = served_answers(mem, items)
    with Timer() as t_total:
        with Timer() as t_teacher:
            examples, misses = distill.teacher_examples(mem, prefixes=args.prefixes)
        memory_layer = mem.layer
        teacher_rel = 1 - len(misses) / T
        mem.detach()
        config = distill.DistillConfig(
            layers=tuple(args.layers) if args.layers else None,
            lr=args.lr or distill_default("lr"),
            max_epochs=args.epochs or distill_default("max_epochs"),
            batch_size=args.batch_size, replay_weight=args.replay_weight,
            replay_tokens=args.replay_tokens,
            modules=tuple(args.modules or ("gate_proj", "up_proj", "down_proj")),
            anchor_weight=args.anchor_weight, anchor_prompts=args.anchor_prompts,
            lora_rank=args.lora_rank, optimizer=args.optimizer, pull=args.pull,
        )
        run_dir = fresh(cache_dir / f"run-{T}-{args.tag}", keep=args.resume)
        anchors, replay = replay_texts(items, args.swapped_anchors)
        with Timer() as t_train:
            trainer = distill.Distiller(loaded.model, loaded.tokenizer, examples, replay, config,
                                        run_dir=run_dir, memory_layer=memory_layer,
                                        anchors=anchors)
            report = trainer.train(progress=args.progress)
        out = fresh(cache_dir / f"candidate-{T}-{args.tag}")
        tensors = trainer.trained_tensors()
        distill.write_checkpoint(base_dir, tensors, out, loaded.tokenizer)
    row = {
        "model": MODEL, "T": T, "method": args.tag,
        "wall_s": t_total.wall_s, "train_s": t_train.wall_s, "teacher_s": t_teacher.wall_s,
        "served_before": served_before, "tensors": tensors,
        "teacher_rel_em": teacher_rel, "examples": len(examples), "epochs": report.epochs,
        "train_accuracy": report.train_accuracy, "layers": list(trainer.layers),
        "modules": list(config.modules), "lr": config.lr, "replay_weight": config.replay_weight,
        "replay_tokens": config.replay_tokens, "anchor_weight": config.anchor_weight,
        "anchor_prompts": len(trainer.anchors), "lora_rank": config.lora_rank,
        "optimizer": config.optimizer, "pull": config.pull,
        "prefixes": args.prefixes, "swapped_anchors": args.swapped_anchors,
        "edit_s_total": edit_s,
    }
    return score_candidate(out, loaded, items, args, row)


def served_answers(mem, items: list[dict], batch_size: int = 32) -> list[list[int]]:
    """What the served model (weights + memory, routed as it serves) answers on each edit
    prompt, as many tokens as the target."""
    from memoird.editor.distill import _target_ids

    out = []
    for s in range(0, len(items), batch_size):
        chunk = items[s : s + batch_size]
        lengths = [len(_target_ids(mem.tokenizer, x["src"], x["alt"])) for x in chunk]
        got = mem.generate_ids([x["src"] for x in chunk], max_new_tokens=max(lengths))
        out += [g[:n] for g, n in zip(got, lengths)]
    return out


def served_match(loaded, cache_dir: Path, items: list[dict], tensors: dict, folded: set[str],
                 before: list[list[int]]) -> float:
    """Share of edit prompts the candidate + the memory without the folded edits answers as
    base + memory did. The memory file is carried over as it is (no re-fit): exact when only
    the memory's own layer changed (its inputs are the same), an approximation otherwise."""
    from memoird.editor.memoir import Memoir

    mem = Memoir.load(cache_dir / f"zsre-{len(items)}.memoir", loaded.model, loaded.tokenizer)
    mem.path = None  # never written back: the cached file stays as it is
    params = dict(loaded.model.named_parameters())
    saved = {}
    try:
        with torch.no_grad():
            for name, value in tensors.items():
                key = name if name in params else name.replace(".down_proj.weight", ".down_proj.base.weight")
                saved[key] = params[key].detach().clone()
                params[key].copy_(value.to(params[key].dtype))
        for edit_id in [i for i in mem.edit_ids() if i in folded]:
            mem.revert(edit_id)
        after = served_answers(mem, items)
    finally:
        with torch.no_grad():
            for key, value in saved.items():
                params[key].copy_(value)
        mem.detach()
    return sum(a == b for a, b in zip(after, before)) / len(items)


def preserved_sample(items: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """(ordinary text, question-form prompts, check prompts) for the null-space folds.

    Text: the extraction gold sets' sentences (Wikipedia-like, ~100k tokens) and the replay
    feeds' articles. Prompts: each edit's question with two other subjects, the background
    prompts and CounterFact's prompts not naming an edited subject; every fifth CounterFact
    prompt is held out as a check prompt (the selective fold's locality test). zsRE's NQ
    locality questions are never used.
    """
    texts = []
    for name in ("wiki-nre", "rebel", "webnlg"):
        texts += (SHARED_DATA / "extraction" / f"{name}.text.txt").read_text().splitlines()
    texts = [t for t in texts if t.strip()] + feed_texts(REPLAY_FEEDS)
    anchors = anchor_prompts(items, swapped_per_edit=2)
    swapped = anchors[: len(anchors) - len(anchor_prompts(items, 0))]
    rest = anchors[len(swapped):]
    check = rest[::5][:150]  # enough to see a few moved answers, cheap to re-check
    prompts = swapped + [p for j, p in enumerate(rest) if j % 5]
    return texts, prompts, check


def nullspace_one(T: int, args, items: list[dict], loaded, mem, edit_s, base_dir: Path,
                  cache_dir: Path) -> dict:
    """The memory-layer fold (editor/nullspace.py): AlphaEdit or MEMIT-style, selective or whole."""
    from memoird.editor import distill
    from memoird.editor.nullspace import MemoryFold, NullSpaceConfig

    mem.path = None
    served_before = served_answers(mem, items)
    texts, prompts, check = preserved_sample(items)
    config = NullSpaceConfig(method=args.method, threshold=args.threshold, ridge=args.ridge,
                             preserved_tokens=args.preserved_tokens, selective=args.selective,
                             min_locality=args.min_locality)
    with Timer() as t_total:
        fold = MemoryFold(mem, texts, prompts, check, config)
        result = fold.fold(progress=lambda m: print(m, flush=True) if args.progress else None)
        tensors = fold.trained_tensors(result.delta)
        mem.detach()
        out = fresh(cache_dir / f"candidate-{T}-{args.tag}")
        distill.write_checkpoint(base_dir, tensors, out, loaded.tokenizer)
    row = {
        "model": MODEL, "T": T, "method": args.tag, "wall_s": t_total.wall_s,
        "served_before": served_before, "tensors": tensors, "folded_ids": result.folded,
        "layers": [fold.layer], "threshold": result.threshold, "null_dim": result.null_dim,
        "ridge": result.ridge, "preserved_tokens": fold.count, "selective": config.selective,
        "check_locality": result.check_locality, "fold_served_match": result.served_match,
        "history": result.history, "edit_s_total": edit_s,
    }
    return score_candidate(out, loaded, items, args, row)


def kl_one(T: int, args, items: list[dict], loaded, mem, edit_s, base_dir: Path,
           cache_dir: Path) -> dict:
    """KL distillation to the teacher over a mix of text and prompts (editor/kl_distill.py).

    The mix is the null-space folds' preserved sample (extraction sentences and replay
    feeds; swapped-subject questions, background and CounterFact prompts), minus its check
    prompts, which only score the candidate (``check_loc``)."""
    from memoird.editor import distill
    from memoird.editor.kl_distill import KLConfig, KLDistiller, mix_sequences

    mem.path = None
    served_before = served_answers(mem, items)
    texts, prompts, check = preserved_sample(items)
    config = KLConfig(layers=tuple(args.layers) if args.layers else None,
                      modules=tuple(args.modules or KLConfig.modules),
                      lr=args.lr or KLConfig.lr, epochs=args.epochs or KLConfig.epochs,
                      text_tokens=args.text_tokens, mix_prompts=args.mix_prompts,
                      top_k=args.top_k, edit_weight=args.edit_weight,
                      answer_weight=args.answer_weight, margin=args.margin)
    say = (lambda m: print(m, flush=True)) if args.progress else None
    with Timer() as t_total:
        with Timer() as t_teacher:
            examples, misses = distill.teacher_examples(mem, prefixes=args.prefixes)
            mix = cached_mix(cache_dir / (f"kl-mix-{T}-{config.text_tokens}-{config.mix_prompts}-"
                                          f"{config.answer_tokens}-{config.seed}.json"),
                             lambda: mix_sequences(mem, texts, prompts, config))
            trainer = KLDistiller(mem, examples, mix, config)
            # the teacher's batches, kept for reruns that change only the training settings
            trainer.prepare(say, cache=cache_dir / f"kl-prepared-{T}-{trainer.signature()[:12]}.pt")
        mem.detach()
        with Timer() as t_train:
            report = trainer.train(say)
        tensors = trainer.trained_tensors()
        out = fresh(cache_dir / f"candidate-{T}-{args.tag}")
        distill.write_checkpoint(base_dir, tensors, out, loaded.tokenizer)
    row = {
        "model": MODEL, "T": T, "method": args.tag, "wall_s": t_total.wall_s,
        "train_s": t_train.wall_s, "teacher_s": t_teacher.wall_s,
        "served_before": served_before, "tensors": tensors, "check_prompts": check,
        "teacher_rel_em": 1 - len(misses) / T, "examples": len(examples),
        "mix_sequences": len(mix), "mix_tokens": sum(len(x.ids) for x in mix),
        "epochs": report.epochs, "train_accuracy": report.edit_accuracy,
        "history": report.history, "layers": list(trainer.layers),
        "modules": list(config.modules), "lr": config.lr, "top_k": config.top_k,
        "edit_weight": config.edit_weight, "answer_weight": config.answer_weight,
        "margin": config.margin,
        "prefixes": args.prefixes, "edit_s_total": edit_s,
    }
    return score_candidate(out, loaded, items, args, row)


def cached_mix(path: Path, make):
    """The KL fold's mix (with the teacher's greedy answers) for this T and these settings,
    from ``path`` when an earlier run wrote it (the memory of a T is itself cached)."""
    from memoird.editor.kl_distill import Sequence_

    if path.exists():
        return [Sequence_(x["ids"], x["prompt_len"], x["key"]) for x in json.loads(path.read_text())]
    mix = make()
    path.write_text(json.dumps([{"ids": x.ids, "prompt_len": x.prompt_len, "key": x.key} for x in mix]))
    return mix


def fresh(path: Path, keep: bool = False) -> Path:
    """``path``, emptied of an earlier run unless ``keep`` (resume)."""
    import shutil

    if not keep and path.exists():
        shutil.rmtree(path)
    return path


def replay_texts(items: list[dict], swapped_per_edit: int = 0) -> tuple[list[str], list[str]]:
    """(anchor prompts, all replay text): what the candidate must keep answering as the base."""
    from memoird.editor.background import BACKGROUND_PROMPTS

    anchors = anchor_prompts(items, swapped_per_edit)
    return anchors, list(BACKGROUND_PROMPTS) + anchors + feed_texts(REPLAY_FEEDS)


def fold_one(T: int, args, items: list[dict], loaded, mem, edit_s, base_dir: Path, cache_dir: Path) -> dict:
    """The closed-form fold (editor/fold.py) of the edits the memory answers."""
    from memoird.editor import distill
    from memoird.editor.fold import FoldConfig, FoldEdit, SubjectFold

    with Timer() as t_total:
        with Timer() as t_teacher:
            _examples, misses = distill.teacher_examples(mem)
        requests = [r for r in mem.requests() if r.edit_id not in misses]
        mem.detach()
        edits = [FoldEdit(r.edit_id, p, r.target, r.subject) for r in requests
                 for p in (r.prompt, *r.paraphrases)]
        _anchors, background = replay_texts(items, args.swapped_anchors)
        config = FoldConfig(layer=args.fold_layer, ridge=args.fold_ridge)
        run_dir = fresh(cache_dir / f"run-{T}-{args.tag}", keep=args.resume)
        with Timer() as t_train:
            fold = SubjectFold(loaded.model, loaded.tokenizer, edits, background, config, run_dir=run_dir)
            report = fold.train(progress=args.progress)
        out = fresh(cache_dir / f"candidate-{T}-{args.tag}")
        distill.write_checkpoint(base_dir, fold.trained_tensors(), out, loaded.tokenizer)
    row = {
        "model": MODEL, "T": T, "method": args.tag,
        "wall_s": t_total.wall_s, "train_s": t_train.wall_s, "teacher_s": t_teacher.wall_s,
        "teacher_rel_em": 1 - len(misses) / T, "examples": len(edits),
        "train_accuracy": report.train_accuracy, "layers": list(fold.layers),
        "ridge": fold.config.ridge, "fit_rel_err": report.loss, "edit_s_total": edit_s,
    }
    return score_candidate(out, loaded, items, args, row)


def score_candidate(out: Path, loaded, items: list[dict], args, row: dict) -> dict:
    """The candidate checkpoint WITHOUT memory: reliability, paraphrases, locality, perplexity."""
    from transformers import AutoModelForCausalLM

    from memoird.editor import distill

    T = len(items)
    cand = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).to(loaded.device).eval()
    base = loaded.model
    rel = distill.greedy_em(cand, loaded.tokenizer, [x["src"] for x in items], [x["alt"] for x in items])
    gen = distill.greedy_em(cand, loaded.tokenizer, [x["rephrase"] for x in items], [x["alt"] for x in items])
    loc_prompts = [x["loc"] for x in items]
    loc = distill.token_agreement(cand, base, loaded.tokenizer, loc_prompts,
                                  [x["loc_ans"] for x in items])
    # loc_em as bench/edit_bench.py: the greedy answer (as long as loc_ans) is unchanged.
    lengths = [len(distill._target_ids(loaded.tokenizer, x["loc"], x["loc_ans"])) for x in items]
    same = distill.token_agreement(cand, base, loaded.tokenizer, loc_prompts,
                                   distill.greedy_ids(base, loaded.tokenizer, loc_prompts, lengths))
    served_before = row.pop("served_before", None)
    tensors = row.pop("tensors", None)
    check = row.pop("check_prompts", None)
    if check:  # the mix's held-out prompts: 8-token greedy answers unchanged
        ref = distill.greedy_ids(base, loaded.tokenizer, check, 8)
        row["check_locality"] = sum(x == 1.0 for x in distill.token_agreement(
            cand, base, loaded.tokenizer, check, ref)) / len(check)
    folded_ids = row.pop("folded_ids", None)
    if folded_ids is None:  # a whole-memory fold: what the candidate answers is folded
        folded_ids = [str(i) for i, ok in enumerate(rel) if ok]
    served = None
    if served_before is not None and tensors is not None:
        served = served_match(loaded, args.cache_dir, items, tensors, set(folded_ids), served_before)
    held = feed_texts(HELDOUT_FEEDS)
    ppl_base = distill.perplexity(base, loaded.tokenizer, held, max_tokens=args.ppl_tokens)
    ppl_cand = distill.perplexity(cand, loaded.tokenizer, held, max_tokens=args.ppl_tokens)
    row = {
        "model": MODEL, "T": T, "method": row.pop("method"),
        "rel_em": sum(rel) / T, "gen_em": sum(gen) / T,
        "loc_em": sum(x == 1.0 for x in same) / T, "loc_tf": sum(loc) / T,
        "ppl_drift": ppl_cand / ppl_base - 1, "folded_share": len(folded_ids) / T,
        "served_match": served, "ppl_base": ppl_base, "ppl_candidate": ppl_cand,
        **row, "device": str(loaded.device), "threads": torch.get_num_threads(),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--limit", type=int, default=None, help="cap every T at this many edits")
    ap.add_argument("--layers", type=int, nargs="*", default=None)
    ap.add_argument("--modules", nargs="+", default=None,
                    help="trained modules (default: gate, up and down_proj)")
    ap.add_argument("--lr", type=float, default=None, help="default: the method's config")
    ap.add_argument("--epochs", type=int, default=None, help="default: the method's config")
    ap.add_argument("--batch-size", type=int, default=distill_default("batch_size"))
    ap.add_argument("--replay-weight", type=float, default=distill_default("replay_weight"))
    ap.add_argument("--replay-tokens", type=int, default=distill_default("replay_tokens"))
    ap.add_argument("--prefixes", type=int, default=0)
    ap.add_argument("--anchor-weight", type=float, default=distill_default("anchor_weight"))
    ap.add_argument("--anchor-prompts", type=int, default=distill_default("anchor_prompts"))
    ap.add_argument("--lora-rank", type=int, default=0)
    ap.add_argument("--optimizer", default=distill_default("optimizer"), choices=("adam", "sgd"))
    ap.add_argument("--pull", type=float, default=distill_default("pull"))
    ap.add_argument("--swapped-anchors", type=int, default=0,
                    help="anchors per edit: its question with another subject, as the daemon "
                         "adds 2 (T=100: reliability 0.70 instead of 0.98, locality no better)")
    ap.add_argument("--ppl-tokens", type=int, default=256)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=distill_default("threshold", "nullspace"))
    ap.add_argument("--ridge", type=float, default=distill_default("ridge", "nullspace"))
    ap.add_argument("--preserved-tokens", type=int,
                    default=distill_default("preserved_tokens", "nullspace"))
    ap.add_argument("--min-locality", type=float, default=distill_default("min_locality", "nullspace"))
    ap.add_argument("--whole", dest="selective", action="store_false",
                    help="null-space folds: fold the whole memory (no per-edit selection)")
    ap.add_argument("--method", default="student",
                    choices=("student", "fold", "alphaedit", "memit", "kl"),
                    help="student: train MLP layers on the teacher (editor/distill.py); "
                         "fold: closed-form subject-key fold (editor/fold.py); alphaedit, "
                         "memit: memory-layer folds (editor/nullspace.py); kl: KL to the "
                         "teacher over a text and prompt mix (editor/kl_distill.py)")
    ap.add_argument("--text-tokens", type=int, default=distill_default("text_tokens", "kl"))
    ap.add_argument("--mix-prompts", type=int, default=distill_default("mix_prompts", "kl"))
    ap.add_argument("--top-k", type=int, default=distill_default("top_k", "kl"))
    ap.add_argument("--edit-weight", type=float, default=distill_default("edit_weight", "kl"))
    ap.add_argument("--answer-weight", type=float, default=distill_default("answer_weight", "kl"))
    ap.add_argument("--margin", type=float, default=distill_default("margin", "kl"))
    ap.add_argument("--fold-layer", type=int, default=None)
    ap.add_argument("--fold-ridge", type=float, default=distill_default("ridge", "fold"))
    ap.add_argument("--tag", default=None, help="method name in the rows (default: --method)")
    ap.add_argument("--edits-only", action="store_true",
                    help="only apply (and cache) the edits, for a later run")
    ap.add_argument("--resume", action="store_true", help="resume an interrupted run folder")
    ap.add_argument("--no-progress", dest="progress", action="store_false")
    ap.add_argument("--out", default=None, help="results folder (default bench/results)")
    ap.add_argument("--append", action="store_true", help="keep earlier rows of the results file")
    ap.add_argument("--plot-only", action="store_true", help="only redraw the PNG from the json")
    args = ap.parse_args()
    if args.plot_only:
        results = (Path(args.out) if args.out else REPO / "bench" / "results") / "distill_bench.json"
        plot(json.loads(results.read_text())["rows"], results.with_suffix(".png"))
        return
    args.tag = args.tag or args.method
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from memoird.editor.model import convert_builtin

    data_dir = Path(os.environ.get("MEMOIRD_TEST_CACHE", REPO / ".cache" / "test-data"))
    base_dir = convert_builtin(MODEL, data_dir)
    cache_dir = REPO / ".cache" / "bench" / "distill"
    args.cache_dir = cache_dir
    data = json.loads((SHARED_DATA / "editing" / "zsre-1k.json").read_text())
    # Two items (534, 723) have an empty new target: they are no edit. T counts valid items.
    data = [x for x in data if x["src"].strip() and x["alt"].strip()]
    rows = []
    out_dir = Path(args.out) if args.out else None
    results = (out_dir or REPO / "bench" / "results") / "distill_bench.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    if args.append and results.exists():
        rows = json.loads(results.read_text())["rows"]
    for T in args.T:
        T = min(T, args.limit or T, len(data))
        row = run_one(T, args, data, base_dir, cache_dir)
        if not row:
            continue
        rows.append(row)
        plot(rows, results.with_suffix(".png"))
        write_results("distill_bench", rows, out_dir=out_dir,
                      extra_meta={"dataset": "zsre-1k.json", "replay_feeds": list(REPLAY_FEEDS),
                                  "heldout_feeds": list(HELDOUT_FEEDS)})


def plot(rows: list[dict], path: Path) -> None:
    """Reliability (checkpoint alone) against locality, one point per row, per T a marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    markers = {}
    for row in rows:
        marker = markers.setdefault(row["T"], "os^Dv"[len(markers) % 5])
        ax.scatter(row["loc_em"], row["rel_em"], marker=marker, s=40)
        label = row["method"] + (f" (folded {row['folded_share']:.2f})"
                                 if row.get("folded_share") is not None else "")
        ax.annotate(f"{label}, T={row['T']}", (row["loc_em"], row["rel_em"]), fontsize=7,
                    xytext=(4, 2), textcoords="offset points")
    ax.axvline(0.97, color="grey", ls="--", lw=0.8)
    ax.axhline(0.90, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("locality: unrelated NQ answers unchanged (loc_em)")
    ax.set_ylabel("reliability of the checkpoint without memory (rel_em)")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(-0.02, 1.05)
    ax.set_title("Distillation on zsRE (SmolLM2-135M): every method, reliability vs locality")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def distill_default(name: str, method: str = "student"):
    from memoird.editor.distill import DistillConfig
    from memoird.editor.fold import FoldConfig
    from memoird.editor.nullspace import NullSpaceConfig

    from memoird.editor.kl_distill import KLConfig

    configs = {"fold": FoldConfig, "nullspace": NullSpaceConfig, "student": DistillConfig,
               "kl": KLConfig}
    return getattr(configs[method](), name)


if __name__ == "__main__":
    main()
