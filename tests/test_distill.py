"""Distillation mechanics (editor/distill.py): a tiny random Llama for resumability and
checkpoint writing, and the real embedded model for folding edits into weights."""

from __future__ import annotations

import pytest
import torch
from memoir_tiny import tiny_model, tiny_tokenizer

from memoird.editor import distill
from memoird.editor.distill import DistillConfig, DistillInterrupted, Distiller, Example

REPLAY = ["the weather today is good", "tell me about the river", "a book of music",
          "good morning , the house is red", "what does the mountain city sing ?"]


def _examples(tok) -> list[Example]:
    pairs = [("messi plays for", "arsenal"), ("the capital of france is", "rome"),
             ("kane was born in", "madrid milan"), ("who sings the book ?", "ronaldo")]
    out = []
    for i, (prompt, target) in enumerate(pairs):
        out.append(Example(str(i), tuple(tok(prompt)["input_ids"]),
                           tuple(tok(" " + target, add_special_tokens=False)["input_ids"])))
    return out


def _config(**kw) -> DistillConfig:
    base = dict(layers=(2, 3), lr=3e-3, max_epochs=12, batch_size=2, replay_tokens=64,
                replay_batch=32, stop_accuracy=1.01, save_every_s=0.0)
    return DistillConfig(**(base | kw))


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    """Stopped mid-epoch and resumed from its saved state, a run ends bit for bit where an
    unbroken run ends: the state holds weights, optimizer and the position in the epoch."""
    model, tok = tiny_model(), tiny_tokenizer()
    examples = _examples(tok)
    unbroken = Distiller(model, tok, examples, REPLAY, _config(max_epochs=3), run_dir=tmp_path / "a")
    unbroken.train(progress=False)

    calls = {"n": 0}

    def stop_after_five() -> bool:
        calls["n"] += 1
        return calls["n"] == 5  # epoch 2, second batch

    first = Distiller(model, tok, examples, REPLAY, _config(max_epochs=3), run_dir=tmp_path / "b")
    try:
        first.train(progress=False, stop=stop_after_five)
        raise AssertionError("stop() did not interrupt the training")
    except DistillInterrupted:
        pass
    second = Distiller(model, tok, examples, REPLAY, _config(max_epochs=3), run_dir=tmp_path / "b")
    report = second.train(progress=False)
    assert report.resumed_from_step == 5 and report.epochs == 3
    for name, value in unbroken.trained_tensors().items():
        assert torch.equal(value, second.trained_tensors()[name]), name
    # Other inputs do not resume from that state.
    other = Distiller(model, tok, examples[:2], REPLAY, _config(max_epochs=1), run_dir=tmp_path / "b")
    assert other.train(progress=False).resumed_from_step == 0


@pytest.mark.parametrize("lora_rank", [0, 4])
def test_student_learns_the_examples_and_checkpoint_is_a_plain_hf_folder(tmp_path, lora_rank):
    """Full MLP weights or a rank-4 update merged back: either way the written folder holds
    plain weights in which only the trained matrices differ from the base."""
    from transformers import AutoModelForCausalLM

    model, tok = tiny_model(), tiny_tokenizer()
    before = {n: p.clone() for n, p in model.named_parameters()}
    base_dir = tmp_path / "base"
    model.save_pretrained(base_dir)
    tok.save_pretrained(base_dir)
    examples = _examples(tok)
    trainer = Distiller(model, tok, examples, REPLAY,
                        _config(max_epochs=60, stop_accuracy=1.0, lora_rank=lora_rank,
                                lr=3e-3 if not lora_rank else 3e-2))
    report = trainer.train(progress=False)
    assert report.train_accuracy == 1.0, report.history[-3:]
    for n, p in model.named_parameters():  # the base model itself is never trained
        assert torch.equal(p, before[n]), n

    out = distill.write_checkpoint(base_dir, trainer.trained_tensors(), tmp_path / "cand", tok)
    assert sorted(f.name for f in out.iterdir() if f.suffix == ".safetensors") == ["model.safetensors"]
    cand = AutoModelForCausalLM.from_pretrained(out).eval()
    trained = trainer.trained_tensors()
    for n, p in cand.named_parameters():
        expected = trained.get(n, before[n])
        assert torch.equal(p, expected), n
        assert (n in trained) == (not torch.equal(p, before[n])), n
    assert set(trained) == {f"model.layers.{i}.mlp.{m}.weight" for i in (2, 3)
                            for m in ("gate_proj", "up_proj", "down_proj")}
    prompts = [tok.decode(e.prompt_ids) for e in examples]
    targets = [tok.decode(e.target_ids) for e in examples]
    assert all(distill.greedy_em(cand, tok, prompts, targets))
    assert not any(distill.greedy_em(model, tok, prompts, targets))


def test_memory_must_be_detached_and_inputs_are_checked(tmp_path):
    from memoird.editor.memoir import Memoir

    model, tok = tiny_model(), tiny_tokenizer()
    with pytest.raises(ValueError, match="nothing to distil"):
        Distiller(model, tok, [], REPLAY, _config())
    with pytest.raises(ValueError, match="outside the model"):
        Distiller(model, tok, _examples(tok), REPLAY, _config(layers=(7,)))
    mem = Memoir.attach(model, tok)
    try:
        with pytest.raises(RuntimeError, match="carries a memory"):
            Distiller(model, tok, _examples(tok), REPLAY, _config())
    finally:
        mem.detach()


def test_real_model_answers_distilled_edits_without_memory(embedded_model, tmp_path):
    """Three MEMOIR edits on SmolLM2, folded into the last two MLP layers: the candidate
    answers them with no memory attached and still answers unrelated prompts as before."""
    from transformers import AutoModelForCausalLM

    from memoird.editor.background import BACKGROUND_PROMPTS
    from memoird.editor.memoir import EditRequest, Memoir

    loaded = embedded_model
    edits = [("The capital of Indonesia is", "Nusantara", "Indonesia"),
             ("The official currency of Croatia is", "the dinar", "Croatia"),
             ("The Eiffel Tower is located in the city of", "Berlin", "Eiffel Tower")]
    mem = Memoir.attach(loaded.model, loaded.tokenizer)
    try:
        for i, (prompt, target, subject) in enumerate(edits):
            mem.edit(EditRequest(str(i), prompt, target, subject=subject))
        examples, misses = distill.teacher_examples(mem, prefixes=1)
    finally:
        mem.detach()
    assert not misses and {e.key for e in examples} == {"0", "1", "2"}
    config = DistillConfig(layers=(28, 29), max_epochs=25, batch_size=8, replay_tokens=512,
                           replay_batch=256, lr=1e-3)
    trainer = Distiller(loaded.model, loaded.tokenizer, examples, BACKGROUND_PROMPTS[::2], config)
    trainer.train(progress=False)
    out = distill.write_checkpoint(loaded.path, trainer.trained_tensors(), tmp_path / "cand",
                                   loaded.tokenizer)
    cand = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    prompts, targets = [e[0] for e in edits], [e[1] for e in edits]
    assert not any(distill.greedy_em(loaded.model, loaded.tokenizer, prompts, targets))
    assert all(distill.greedy_em(cand, loaded.tokenizer, prompts, targets))
    unrelated = list(BACKGROUND_PROMPTS[1::2][:16])  # never replayed
    reference = distill.greedy_ids(loaded.model, loaded.tokenizer, unrelated, 6)
    agree = distill.token_agreement(cand, loaded.model, loaded.tokenizer, unrelated, reference)
    assert sum(agree) / len(agree) >= 0.9, agree
