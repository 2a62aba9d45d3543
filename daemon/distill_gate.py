"""The distillation gate: is a candidate checkpoint good enough to serve?

Kept apart from the job because it is the one part an operator reads to know why a
candidate was (not) activated, and the one part every folding method shares: the student,
the closed-form folds and the null-space fold all produce a folder, and this module
measures it the same way, without memory, against the previous base — reliability on the
edits, locality (greedy answers kept on held-out unrelated prompts), perplexity drift on
held-out text. The texts are split once per run (``texts.json``) by a hash, so a resumed
run trains and gates on the same text even if new articles arrived meanwhile.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from memoird.store.atomic import atomic_write_json
from memoird.store.records import Checkpoint

TEXTS = "texts.json"


@dataclass
class GateReport:
    reliability: float  # share of taught edits the candidate answers without memory
    locality: float  # token agreement with the previous base's greedy answers (held-out prompts)
    locality_em: float  # share of those prompts whose 8-token greedy answer is unchanged
    ppl_base: float
    ppl_candidate: float
    ppl_drift: float  # ppl_candidate / ppl_base - 1
    teacher_misses: int  # edits the memory itself did not answer (never taught)
    folded_share: float | None = None  # selective folds: share of the snapshot's edits folded
    served_match: float | None = None  # selective folds: edit prompts answered as before by
    # the candidate + the memory of the edits it did not fold
    thresholds: dict[str, float] = field(default_factory=dict)
    passed: bool = False
    reasons: list[str] = field(default_factory=list)


def evaluate_candidate(runtime, base, candidate: Checkpoint, examples, misses: dict[str, str],
                       run_dir: Path | None = None, fold: dict | None = None
                       ) -> tuple[GateReport, list[int]]:
    """The gate: measured on the candidate without memory, against the previous base.

    With ``fold`` (a selective memory-layer fold's summary), only the edits it folded are
    absorbed, reliability is measured on them, and the fold's served match (candidate +
    the memory of the edits it kept, measured by the fold on these very weights) and at
    least one folded edit are required besides locality and perplexity."""
    import torch
    from transformers import AutoModelForCausalLM

    from memoird.editor import distill

    cfg = runtime.config.distill
    tok = base.tokenizer
    model = AutoModelForCausalLM.from_pretrained(candidate.path, dtype=torch.float32)
    model = model.to(base.device).eval()
    try:
        by_edit: dict[str, list[bool]] = {}
        prompts = [list(e.prompt_ids) for e in examples]
        got = distill._teacher_forced_argmax(model, tok, prompts, [list(e.target_ids) for e in examples])
        for e, g in zip(examples, got):
            by_edit.setdefault(e.key, []).append(g == list(e.target_ids))
        # The edit's own prompt is its first example; paraphrases and prefixes follow.
        absorbed = sorted(int(k) for k, oks in by_edit.items() if oks[0])
        reliability = len(absorbed) / max(1, len(by_edit))
        if fold is not None:
            folded = {int(i) for i in fold["folded"]}
            absorbed = [i for i in absorbed if i in folded]
            reliability = len(absorbed) / max(1, len(folded))
        texts = run_texts(run_dir, runtime.db()) if run_dir else replay_texts(runtime.db())
        loc_prompts = texts["locality"]
        reference = distill.greedy_ids(base.model, tok, loc_prompts, 8)
        loc = distill.token_agreement(model, base.model, tok, loc_prompts, reference)
        ppl_base = distill.perplexity(base.model, tok, texts["heldout"])
        ppl_cand = distill.perplexity(model, tok, texts["heldout"])
    finally:
        del model
    gate = GateReport(
        reliability=reliability, locality=sum(loc) / len(loc),
        locality_em=sum(x == 1.0 for x in loc) / len(loc), ppl_base=ppl_base,
        ppl_candidate=ppl_cand, ppl_drift=ppl_cand / ppl_base - 1, teacher_misses=len(misses),
        thresholds={"min_reliability": cfg.min_reliability, "min_locality": cfg.min_locality,
                    "max_ppl_drift": cfg.max_ppl_drift},
    )
    if fold is not None:
        gate.folded_share = len(absorbed) / max(1, len(fold["folded"]) + len(fold["kept"]))
        gate.served_match = fold["served_match"]
        gate.thresholds["min_served_match"] = cfg.min_served_match
        if not absorbed:
            gate.reasons.append("the fold holds no edit")
        if gate.served_match < cfg.min_served_match:
            gate.reasons.append(f"served match {gate.served_match:.3f} < {cfg.min_served_match}")
    if gate.reliability < cfg.min_reliability:
        gate.reasons.append(f"reliability {gate.reliability:.3f} < {cfg.min_reliability}")
    if gate.locality < cfg.min_locality:
        gate.reasons.append(f"locality {gate.locality:.3f} < {cfg.min_locality}")
    if gate.ppl_drift > cfg.max_ppl_drift:
        gate.reasons.append(f"perplexity drift {gate.ppl_drift:+.2%} > {cfg.max_ppl_drift:.0%}")
    gate.passed = not gate.reasons
    return gate, absorbed


def replay_texts(db, edits: Sequence[tuple[str, str]] = (), max_articles: int = 200,
                 max_probes: int = 2000) -> dict[str, list[str]]:
    """Unrelated text, split once and for all into trained-on / held-out by a hash of it.

    - ``replay``: article text whose MLP activations the student must keep;
    - ``anchors``: short prompts whose next-token distribution must stay the base's: each
      edit's prompt with another subject (from the facts the daemon extracted), the probe
      prompts it asked (facts it checked and left alone) and the background prompts;
    - ``locality`` (prompts) and ``heldout`` (text): the gate's, never trained on.

    Any prompt naming a subject being distilled is left out: anchoring it to the old
    answer would fight the edit.
    """
    from memoird.editor.background import BACKGROUND_PROMPTS
    from memoird.store.articles import list_articles

    from memoird.editor.distill import swapped_subject_prompts

    subjects = [s.casefold() for _, s in edits if s and s.strip()]

    def unrelated(text: str) -> bool:
        folded = text.casefold()
        return not any(s in folded for s in subjects)

    articles = [a.text for a in list_articles(db, limit=max_articles) if a.text and a.text.strip()]
    probes = db.execute(
        "SELECT p.template, f.subject FROM probes p JOIN facts f ON f.id = p.fact_id "
        "ORDER BY p.id DESC LIMIT ?", [max_probes]).fetchall()
    prompts = list(dict.fromkeys(
        t.replace("{subject}", s or "").strip() for t, s in probes if t and t.strip()))
    others = [r[0] for r in db.execute(
        "SELECT subject FROM facts GROUP BY subject ORDER BY MAX(id) DESC LIMIT 2000").fetchall()
        if r[0] and unrelated(r[0])]
    out: dict[str, list[str]] = {"replay": [], "anchors": [], "locality": [], "heldout": []}
    out["anchors"] = swapped_subject_prompts(edits, others, per_edit=2)
    for text in [*BACKGROUND_PROMPTS, *prompts]:
        if unrelated(text):
            out["locality" if _bucket(text) < 0.3 else "anchors"].append(text)
    for text in articles:
        if _bucket(text) < 0.3:
            out["heldout"].append(text)
            first = text.strip().split(". ")[0]
            out["locality"].append(" ".join(first.split()[:12]))
        else:
            out["replay"].append(text)
    out["replay"] += out["anchors"]
    if not out["heldout"]:  # no articles yet: the held-out prompts are the only text
        out["heldout"] = list(out["locality"])
    return out


def run_texts(run_dir: Path, db, edits: Sequence[tuple[str, str]] = ()) -> dict[str, list[str]]:
    """The run's replay/held-out texts, fixed at its start so a resumed run trains and
    gates on the same text even if new articles arrived meanwhile."""
    stored = read_json(run_dir / TEXTS)
    if stored is None:
        stored = replay_texts(db, edits)
        write_json(run_dir / TEXTS, stored)
    return stored


def _bucket(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def write_json(path: Path, value: dict) -> None:
    atomic_write_json(path, value)
