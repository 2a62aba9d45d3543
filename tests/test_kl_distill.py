"""The KL fold (editor/kl_distill.py) on a tiny random Llama with a MEMOIR memory: the coarse
KL, the teacher it matches (the memory where it routes, the base elsewhere), and a trained
memory-layer down_proj that answers the edits without memory while the base is untouched."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from memoir_tiny import memory_with, three_edit_requests, tiny_model  # noqa: E402

from memoird.editor.distill import greedy_em, teacher_examples  # noqa: E402
from memoird.editor.kl_distill import (  # noqa: E402
    KLConfig, KLDistiller, _Teacher, coarse_kl, mix_sequences,
)

EDITS = three_edit_requests()
TEXTS = ["the weather today is good . the river is blue and the mountain is green .",
         "a good book about music . who writes a book ? the city of london ."] * 4
PROMPTS = ["what is the weather today ?", "who sings ?", "tell me about the river",
           "the team of ronaldo is", "the capital of italy is", "the city of berlin is"]


@pytest.fixture(scope="module")
def memory():
    mem = memory_with(EDITS)
    yield mem
    mem.detach()


def test_coarse_kl_is_zero_for_the_teacher_itself_and_positive_otherwise():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 50, generator=gen) * 3
    logp = logits.log_softmax(-1)
    top, idx = logp.topk(8, -1)
    teacher = _Teacher(top, idx, torch.log1p(-top.exp().sum(-1)))
    assert coarse_kl(logits, teacher).abs().max() < 1e-5
    other = logits + torch.randn(5, 50, generator=gen)
    assert (coarse_kl(other, teacher) > 0).all()
    # never more than the full KL: a coarse-grained distribution loses information
    full = (logp.exp() * (logp - other.log_softmax(-1))).sum(-1)
    assert (coarse_kl(other, teacher) <= full + 1e-5).all()


def test_kl_fold_trains_only_the_memory_layer_and_answers_the_edits_without_memory(memory, tmp_path):
    mem = memory
    model = mem.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = KLConfig(lr=3e-2, epochs=60, batch_size=4, text_tokens=64, mix_prompts=6,
                      answer_tokens=2, top_k=8)
    examples, misses = teacher_examples(mem, prefixes=0)
    assert not misses
    mix = mix_sequences(mem, TEXTS, PROMPTS, config)
    assert sum(1 for s in mix if s.prompt_len) == len(PROMPTS)
    assert all(len(s.ids) == s.prompt_len + 2 for s in mix if s.prompt_len)
    trainer = KLDistiller(mem, examples, mix, config)
    cache = tmp_path / "prepared.pt"
    trainer.prepare(cache=cache)
    # a second run on the same inputs reads the teacher's batches; other inputs recompute
    again = KLDistiller(mem, examples, mix, config)
    again.prepare(cache=cache)
    assert torch.equal(again._mix_batches[0].teacher.logp, trainer._mix_batches[0].teacher.logp)
    assert KLDistiller(mem, examples[:2], mix, config).signature() != trainer.signature()
    report = trainer.train()
    assert report.edit_accuracy == 1.0, report.history[-3:]
    tensors = trainer.trained_tensors()
    assert list(tensors) == ["model.layers.2.mlp.down_proj.weight"]
    for n, p in model.named_parameters():  # the served model is never changed
        assert torch.equal(p, before[n]), n
    # the candidate = the base with the trained tensors, no memory
    candidate = tiny_model()
    params = dict(candidate.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            params[name].copy_(value)
    ok = greedy_em(candidate, mem.tokenizer, [r.prompt for r in EDITS], [r.target for r in EDITS])
    assert all(ok), ok
    assert report.history[-1]["mix_kl"] < report.history[0]["mix_kl"] + 1.0
