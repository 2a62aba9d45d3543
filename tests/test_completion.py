"""The decoding bookkeeping behind the OpenAI API (daemon/completion.py): incremental text,
stop strings (cut and held back while streaming), EOS and budget, token bytes, and the
engine's logprobs against a teacher-forced forward pass of the same model."""

from __future__ import annotations

import pytest

from memoird.daemon.completion import (LENGTH, STOP, Recorder, TokenTable, cut_at_stop,
                                       stop_holdback, token_text)

EOS = 2


@pytest.fixture(scope="module")
def tokenizer(embedded_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model_dir)


def _run(tokenizer, text: str, stop=(), max_new_tokens=64, eos=False, logprobs=False):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + ([EOS] if eos else [])
    deltas = []
    table = TokenTable(tokenizer) if logprobs else None
    recorder = Recorder(tokenizer, [3], max_new_tokens, list(stop), {EOS}, table,
                        on_delta=lambda row, d: deltas.append(d))
    for i, token in enumerate(ids):
        if recorder.all_done:
            break
        recorder.step([token], [-0.1 * i] if logprobs else None,
                      [[token, 0]] if logprobs else None, [[-0.1 * i, -9.0]] if logprobs
                      else None)
    recorder.end()
    [completion] = recorder.completions()
    return completion, deltas


def test_text_matches_a_full_decode_including_multibyte_characters(tokenizer):
    text = " Zürich, 東京 and naïve ✓ emoji 🎉 done"
    completion, deltas = _run(tokenizer, text, eos=True)
    assert completion.text == text and completion.finish_reason == STOP
    assert "".join(d.text for d in deltas) == text
    assert all("\ufffd" not in d.text for d in deltas)  # no half characters on the wire
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert completion.completion_tokens == len(ids) + 1  # the EOS counts
    assert deltas[-1].finish_reason == STOP


def test_budget_gives_length(tokenizer):
    completion, _ = _run(tokenizer, " one two three four five six", max_new_tokens=3)
    assert completion.finish_reason == LENGTH and completion.completion_tokens == 3
    assert completion.text == " one two three"


def test_stop_strings_cut_and_are_held_back_while_streaming(tokenizer):
    completion, deltas = _run(tokenizer, " Paris.\n\nThe answer is 42", stop=["\n\n"])
    assert completion.text == " Paris." and completion.finish_reason == STOP
    assert "".join(d.text for d in deltas) == " Paris."  # the first "\n" never went out
    completion, deltas = _run(tokenizer, " a b\n c", stop=["\n\n"], eos=True)
    assert completion.text == " a b\n c" and "".join(d.text for d in deltas) == " a b\n c"
    assert cut_at_stop("abc.def", [".", "c"]) == "ab"
    assert stop_holdback("the end\n", ["\n\n", "END"]) == 1
    assert stop_holdback("the EN", ["\n\n", "END"]) == 2
    assert stop_holdback("the end", ["\n\n"]) == 0


def test_logprob_tokens_line_up_with_the_text(tokenizer):
    text = " Café 🎉 ok"
    completion, deltas = _run(tokenizer, text, logprobs=True, eos=True)
    tokens = completion.logprobs
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert [t.id for t in tokens] == ids
    assert b"".join(t.bytes for t in tokens).decode() == text
    assert [t.logprob for t in tokens] == pytest.approx([-0.1 * i for i in range(len(ids))])
    for t in tokens:
        assert text[t.offset:].encode().startswith(t.bytes) or not t.bytes.decode(
            "utf-8", "ignore")
        assert t.top[0][2] == t.logprob and t.top[1][2] == -9.0
    # a token that is part of a character reads bytes:\x.. (OpenAI's convention)
    partial = [t for t in tokens if t.token.startswith("bytes:")]
    assert partial and all(t.token == token_text(t.bytes) for t in partial)
    assert sum(len(d.logprobs) for d in deltas) == len(tokens)


def test_token_table_spells_bytes_exactly(tokenizer):
    table = TokenTable(tokenizer)
    assert table.kind == "byte_level"
    for word in (" Paris", "\n", " 東京", "ü"):
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        assert b"".join(table(i)[1] for i in ids) == word.encode()
    assert table(EOS)[0] == tokenizer.convert_ids_to_tokens(EOS)  # specials keep their name


@pytest.mark.slow
def test_engine_logprobs_equal_a_teacher_forced_forward_pass(tmp_path, embedded_model_dir,
                                                            embedded_model):
    """The logprobs come from the forward pass that chose each token: they match the
    log-softmax of a separate full forward pass over prompt + completion (by the same
    weights loaded apart from the engine: its memory holds no edit, so the engine
    computes exactly what the base model does)."""
    import torch

    from service_support import runtime_for

    rt = runtime_for(tmp_path, None, MEMOIRD_MODEL_BASE=str(embedded_model_dir),
                     MEMOIRD_MODEL_DEVICE="cpu")
    try:
        engine = rt.engine
        prompts = ["The capital of France is", "Water boils at"]
        results = engine.complete(prompts, max_new_tokens=6, logprobs=3, stop=["\n\n"])
        plain = engine.generate(prompts, max_new_tokens=6)
        model, tok = embedded_model.model, embedded_model.tokenizer
        for prompt, result, text in zip(prompts, results, plain):
            assert text.startswith(result.text)
            prompt_ids = tok(prompt)["input_ids"]
            ids = [t.id for t in result.logprobs]
            with torch.no_grad():
                logits = model(torch.tensor([prompt_ids + ids])).logits[0].float()
            expected = torch.log_softmax(logits, -1)[len(prompt_ids) - 1:-1]
            for step, token in enumerate(result.logprobs):
                assert token.logprob == pytest.approx(expected[step, token.id].item(), abs=2e-3)
                top = expected[step].topk(3)
                assert [t[2] for t in token.top] == pytest.approx(top.values.tolist(), abs=2e-3)
                assert token.top[0][2] == pytest.approx(token.logprob)  # greedy: the argmax
            assert result.prompt_tokens == len(prompt_ids)
    finally:
        rt.close()
