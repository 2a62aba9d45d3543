"""The model card (``README.md``) of a distilled checkpoint folder.

A checkpoint folder leaves memoird: it is copied to other servers and loaded by vLLM or
transformers as a plain Hugging Face model, where the registry is not at hand. The card
says there what the weights are — the original base model, the parent checkpoint they were
folded from, which edits they hold (id, prompt, new answer) and the figures the gate
measured — so an operator who finds the folder alone can still trace every changed answer
back to the edit log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from memoird.store.atomic import atomic_write_text

CARD = "README.md"


def render_card(*, checkpoint_id: int, base_model: str, parent_id: int, parent_path: str,
                method: str, edits: Sequence[dict[str, Any]], gate: dict[str, Any],
                kept: int = 0) -> str:
    """The card's Markdown text. ``edits`` are the folded ones: ``id``, ``prompt``, ``target``."""
    lines = [
        "---",
        f"base_model: {base_model}",
        "tags: [memoird, knowledge-editing, distilled]",
        "---",
        "",
        f"# memoird checkpoint {checkpoint_id}",
        "",
        f"Distilled by memoird ({method}) from checkpoint {parent_id} (`{parent_path}`).",
        f"Original base model: `{base_model}`.",
        "",
        f"It holds {len(edits)} edits in its weights; {kept} more stayed in the residual memory "
        "that memoird serves beside it (they are not in these weights).",
        "",
        "## Gate",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for key in ("passed", "reliability", "folded_share", "served_match", "locality",
                "locality_em", "ppl_base", "ppl_candidate", "ppl_drift"):
        if key in gate and gate[key] is not None:
            value = gate[key]
            lines.append(f"| {key} | {value:.4f} |" if isinstance(value, float)
                         else f"| {key} | {value} |")
    if gate.get("reasons"):
        lines += ["", "Gate failures: " + "; ".join(gate["reasons"])]
    lines += ["", "## Edits folded", "", "| edit | prompt | new answer |", "|---|---|---|"]
    for e in edits:
        prompt = str(e["prompt"]).replace("|", "\\|").replace("\n", " ")
        target = str(e["target"]).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {e['id']} | {prompt} | {target} |")
    return "\n".join(lines) + "\n"


def write_card(folder: str | Path, text: str) -> Path:
    """Write (or replace) the card atomically, mode 0644 like the rest of the folder."""
    return atomic_write_text(Path(folder) / CARD, text)
