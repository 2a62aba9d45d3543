"""Chat backends: OpenAIChat against a real loopback OpenAI-protocol server with injected
faults, LocalChat on the real embedded model."""

from __future__ import annotations

import time

import pytest

from memoird.extractors.chat import ChatBackend, ChatError, LocalChat, OpenAIChat

from openai_fake import Fault, FakeOpenAI


@pytest.fixture
def fake():
    server = FakeOpenAI().start()
    yield server
    server.stop()


def conv(text: str, system: str = "Answer briefly.") -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def test_openai_answers_in_order_and_sends_the_protocol(fake, monkeypatch):
    monkeypatch.setenv("MEMOIRD_EXTRACT_API_KEY", "sk-test-123")
    with OpenAIChat(fake.url, "tiny-model", concurrency=4) as chat:
        assert isinstance(chat, ChatBackend)
        batch = [conv(f"question {i}") for i in range(10)]
        replies = chat.chat(batch, max_new_tokens=17)
    assert replies == [f"echo: question {i}" for i in range(10)]
    body = fake.requests[0]
    assert body["model"] == "tiny-model" and body["max_tokens"] == 17
    assert body["temperature"] == 0 and body["messages"][0]["role"] == "system"
    assert all(h.get("Authorization") == "Bearer sk-test-123" for h in fake.headers)


def test_openai_retries_429_and_5xx_then_succeeds(fake):
    fake.failures.extend([Fault(429, retry_after="0"), Fault(503), Fault(502)])
    with OpenAIChat(fake.url, "m", backoff_s=0.01, max_retries=4, concurrency=1) as chat:
        assert chat.chat([conv("hello")], 8) == ["echo: hello"]
    assert len(fake.requests) == 4


def test_openai_retries_a_timeout(fake):
    fake.failures.append(Fault(200, delay_s=1.5, body="{}"))
    with OpenAIChat(fake.url, "m", timeout_s=0.5, backoff_s=0.01, concurrency=1) as chat:
        started = time.perf_counter()
        assert chat.chat([conv("slow")], 8) == ["echo: slow"]
    assert len(fake.requests) == 2
    assert time.perf_counter() - started < 5


def test_openai_gives_up_after_max_retries_naming_the_endpoint(fake):
    fake.failures.extend([Fault(500)] * 3)
    with OpenAIChat(fake.url, "m", backoff_s=0.01, max_retries=2) as chat:
        with pytest.raises(ChatError, match=r"127\.0\.0\.1.*gave up after 3 attempts.*500"):
            chat.chat([conv("x")], 8)
    assert len(fake.requests) == 3


def test_openai_does_not_retry_client_errors(fake):
    fake.failures.append(Fault(401))
    with OpenAIChat(fake.url, "m", backoff_s=0.01) as chat:
        with pytest.raises(ChatError, match="HTTP 401"):
            chat.chat([conv("x")], 8)
    assert len(fake.requests) == 1


def test_openai_rejects_a_body_that_is_not_a_chat_completion(fake):
    fake.failures.append(Fault(200, body='{"choices": []}'))
    with OpenAIChat(fake.url, "m") as chat:
        with pytest.raises(ChatError, match="not a chat completion"):
            chat.chat([conv("x")], 8)


def test_openai_concurrency_is_limited_but_parallel(fake):
    fake.delay_s = 0.2
    with OpenAIChat(fake.url, "m", concurrency=3) as chat:
        started = time.perf_counter()
        replies = chat.chat([conv(str(i)) for i in range(9)], 8)
        elapsed = time.perf_counter() - started
    assert replies == [f"echo: {i}" for i in range(9)]
    assert fake.max_in_flight == 3
    assert elapsed < 9 * 0.2  # faster than one at a time


def test_bad_inputs_fail_with_clear_errors(fake):
    with pytest.raises(ChatError, match="not an http"):
        OpenAIChat("ftp://example.org", "m")
    with OpenAIChat(fake.url, "m") as chat:
        with pytest.raises(ChatError, match="conversation 1 has a malformed message"):
            chat.chat([conv("ok"), [{"role": "wizard", "content": "x"}]], 8)
        with pytest.raises(ChatError, match="conversation 0 is empty"):
            chat.chat([[]], 8)
    assert fake.requests == []


# --- LocalChat on the real embedded model -------------------------------------------

SYSTEM = ("You are a concise assistant. Answer every question with a single short phrase, "
          "without explanations, and never repeat the question back to the user.")


@pytest.fixture(scope="module")
def local(embedded_model):
    return LocalChat(embedded_model.model, embedded_model.tokenizer, name="smollm2",
                     batch_size=8, min_prefix_tokens=16)


def test_local_batched_equals_one_by_one(local, embedded_model):
    batch = [conv("What is the capital of France?", SYSTEM),
             conv("Name a colour.", SYSTEM),
             conv("What do bees make from nectar in their hives?", SYSTEM)]
    together = local.chat(batch, max_new_tokens=10)
    # Reference: no prefix cache, one conversation at a time, no padding at all.
    plain = LocalChat(embedded_model.model, embedded_model.tokenizer, batch_size=1,
                      min_prefix_tokens=10**9)
    alone = [plain.chat([c], max_new_tokens=10)[0] for c in batch]
    assert together == alone
    assert all(r.strip() for r in together)
    assert "paris" in together[0].lower()
    assert len(local._prefixes) == 1  # the shared system prompt was computed once
    local.clear_cache()  # after a weight change nothing cached may be reused
    assert len(local._prefixes) == 0


def test_local_rejects_sampling_and_bad_messages(local):
    with pytest.raises(ChatError, match="greedy"):
        local.chat([conv("hi")], 4, temperature=0.7)
    with pytest.raises(ChatError, match="malformed"):
        local.chat([[{"role": "user"}]], 4)


def test_local_workers_and_early_finishers_give_the_same_replies(embedded_model):
    """Two worker threads, rows that finish at different steps (so finished rows are
    first fed padding, then dropped from the batch and its KV cache): every reply is what
    the conversation gets alone, and torch's thread setting is restored."""
    import torch

    batch = [conv(q, SYSTEM) for q in (
        "Say yes.", "Name three rivers in Europe, one per line.", "What is 2 + 2?",
        "List the days of the week.", "Name a colour.", "Who wrote Hamlet?")]
    threads = torch.get_num_threads()
    two = LocalChat(embedded_model.model, embedded_model.tokenizer, batch_size=3, workers=2,
                    min_prefix_tokens=16)
    together = two.chat(batch, max_new_tokens=24)
    assert torch.get_num_threads() == threads
    plain = LocalChat(embedded_model.model, embedded_model.tokenizer, batch_size=1,
                      min_prefix_tokens=10**9)
    alone = [plain.chat([c], max_new_tokens=24)[0] for c in batch]
    assert together == alone
    lengths = {len(embedded_model.tokenizer(r)["input_ids"]) for r in together}
    assert len(lengths) > 2  # the rows really finished at different steps
    with pytest.raises(ChatError, match="workers"):
        LocalChat(embedded_model.model, embedded_model.tokenizer, workers=0)
    assert two.chat([], max_new_tokens=4) == []  # nothing to decode, no worker started


def test_slab_layer_appends_in_place_grows_and_selects_rows():
    import torch

    from memoird.extractors.slab_cache import SlabLayer

    layer = SlabLayer(room=2)
    k0, v0 = torch.randn(3, 2, 4, 8), torch.randn(3, 2, 4, 8)
    keys, values = layer.update(k0, v0)
    buffer = layer._keys
    k1, v1 = torch.randn(3, 2, 1, 8), torch.randn(3, 2, 1, 8)
    keys, values = layer.update(k1, v1)
    assert layer._keys is buffer  # within the room: no new buffer, no copy of the past
    assert torch.equal(keys, torch.cat([k0, k1], dim=2))
    k2, v2 = torch.randn(3, 2, 3, 8), torch.randn(3, 2, 3, 8)  # past the room: grows
    keys, values = layer.update(k2, v2)
    assert layer.get_seq_length() == 8
    assert torch.equal(values, torch.cat([v0, v1, v2], dim=2))
    layer.batch_select_indices(torch.tensor([2, 0]))
    assert torch.equal(layer.keys, torch.cat([k0, k1, k2], dim=2)[[2, 0]])
    started = SlabLayer(room=3)
    keys, _values = started.start(2, k0, v0, 5)  # a context written in place, then tokens
    assert started.get_seq_length() == 5 and not keys.any()
    keys[1, :, 1:] = k0[1]
    keys, _values = started.update(k1[:2], v1[:2])
    assert started._keys.shape[2] == 8 and torch.equal(keys[1, :, 1:5], k0[1])
    assert torch.equal(keys[:, :, 5:], k1[:2])


def test_local_one_line_ends_each_reply_at_its_first_line(embedded_model):
    """A base model behind the plain template never stops on its own; a reader that
    wants one line ends each row there, and the line is what it would have been."""
    batch = [conv("Name three rivers in Europe, one per line.", SYSTEM),
             conv("Who wrote Hamlet?", SYSTEM)]
    full = LocalChat(embedded_model.model, embedded_model.tokenizer,
                     min_prefix_tokens=16).chat(batch, max_new_tokens=24)
    short = LocalChat(embedded_model.model, embedded_model.tokenizer, min_prefix_tokens=16,
                      one_line=True).chat(batch, max_new_tokens=24)
    assert "\n" in full[0].strip()  # the model would have gone on
    for whole, line in zip(full, short):
        assert line.strip() == whole.strip().splitlines()[0].strip()
        assert "\n" not in line.strip()
