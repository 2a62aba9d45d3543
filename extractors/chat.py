"""Chat backends: one small interface for the local model and OpenAI-compatible endpoints.

Extraction only needs "these conversations in, these replies out", so that is the whole
interface. The local backend serves the embedded model on the daemon's own CPU/GPU; the
endpoint backend is how a large deployment scales extraction out to vLLM, TGI or a
llama.cpp server without changing anything else. Neither backend loads or changes model
weights: the local one is handed an already-loaded model and tokenizer.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Literal, Protocol, Sequence, TypedDict, runtime_checkable

import httpx

log = logging.getLogger(__name__)


class Message(TypedDict):
    """One chat turn, in the shape both chat templates and the OpenAI API take."""

    role: Literal["system", "user", "assistant"]
    content: str


Conversation = list[Message]


#: a transcript template for base models shipped without a chat template (Gemma-3-270M's
#: GGUF): few-shot turns read as a plain dialogue, which a base model continues
PLAIN_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n"
    "{% else %}Assistant: {{ m['content'] }}\n\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}")


class ChatError(RuntimeError):
    """A backend could not answer; the message names the backend and why."""


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that answers a batch of conversations, one reply per conversation."""

    name: str  # the model id recorded with every fact (provenance)

    def chat(self, batch: Sequence[Conversation], max_new_tokens: int,
             temperature: float = 0.0) -> list[str]: ...


def check_batch(batch: Sequence[Conversation], backend: str) -> None:
    """Reject malformed conversations before any work starts, naming the bad one."""
    for i, conversation in enumerate(batch):
        if not conversation:
            raise ChatError(f"{backend}: conversation {i} is empty")
        for message in conversation:
            if not isinstance(message, dict) or message.get("role") not in (
                    "system", "user", "assistant") or not isinstance(message.get("content"), str):
                raise ChatError(f"{backend}: conversation {i} has a malformed message {message!r}")


class LocalChat:
    """Greedy batched generation with an in-process transformers model.

    Conversations that share their context (everything before the last turn: the
    extractor's instructions and few-shot examples) are the normal case, so each context's
    key/value cache is computed once and reused. On CPU the prefill of that context would
    otherwise dominate the cost. Rows with different contexts still share one batch (a
    small model decodes a batch of 48 rows barely slower than 8): each row's cached
    context is left-padded to the longest, and its own turn follows after padding.
    generate() derives positions from the attention mask, so every row sees exactly the
    positions it would have seen alone.

    ``stop_on_repeat`` ends a row that writes a line for the third time: small models fall
    into such loops, and one looping row would otherwise keep the whole batch decoding.
    (Stopping at the second copy was tried: the model often goes on to a new fact after
    one repeat, and strict F1 fell from 0.376 to 0.352.)

    ``one_line`` ends a row at the end of its first line: a base model behind the plain
    chat template never says it is done, and would go on to write the next "User:" turn
    until ``max_new_tokens`` (answers to reading questions are one line).

    ``workers`` > 1 decodes that many batches at once, each on its own thread with an
    equal share of torch's CPU threads. Decoding a small model is full of small, memory-
    bound operations that split badly across cores; separate batches per core do not.

    ``pause`` is called before every forward pass of a batch (its prefill and each
    decoding step): a daemon sharing the model lets a waiting request use it there (the
    batch's KV cache is its own), or stops the reading by raising.
    """

    def __init__(self, model: Any, tokenizer: Any, *, name: str | None = None,
                 batch_size: int = 32, prefix_cache_size: int = 16,
                 min_prefix_tokens: int = 32, stop_on_repeat: bool = True, workers: int = 1,
                 one_line: bool = False, pause: Callable[[], None] | None = None):
        import torch  # local: the endpoint backend must work without torch

        self._torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.name = name or str(getattr(getattr(model, "config", None), "_name_or_path", "")
                                or type(model).__name__)
        if batch_size < 1:
            raise ChatError(f"LocalChat: batch_size must be >= 1, got {batch_size}")
        if workers < 1:
            raise ChatError(f"LocalChat: workers must be >= 1, got {workers}")
        if tokenizer.pad_token_id is None:
            raise ChatError(f"LocalChat({self.name}): tokenizer has no pad token")
        if not getattr(tokenizer, "chat_template", None):
            raise ChatError(f"LocalChat({self.name}): tokenizer has no chat template")
        self.batch_size = batch_size
        self.min_prefix_tokens = min_prefix_tokens
        self.stop_on_repeat = stop_on_repeat
        self.one_line = one_line
        self.workers = workers
        self.pause = pause or (lambda: None)
        self._prefixes: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._prefix_cache_size = prefix_cache_size
        self._lock = threading.Lock()  # one chat() at a time on a shared model
        self._prefix_lock = threading.Lock()  # the context cache, shared by the workers
        self._eos = [tokenizer.eos_token_id]
        end_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(end_turn, int) and end_turn not in (tokenizer.unk_token_id, *self._eos):
            self._eos.append(end_turn)
        self._newline_ids: set[int] | None = None

    def clear_cache(self) -> None:
        """Forget cached contexts. Call it whenever the model's weights change (a new
        checkpoint): a context cached under old weights would silently be reused."""
        with self._lock, self._prefix_lock:
            self._prefixes.clear()

    def chat(self, batch: Sequence[Conversation], max_new_tokens: int,
             temperature: float = 0.0) -> list[str]:
        check_batch(batch, f"LocalChat({self.name})")
        if temperature != 0:
            raise ChatError(f"LocalChat({self.name}): only greedy decoding (temperature 0) "
                            "is supported, so extraction is reproducible")
        rows = [self._encode(conversation) for conversation in batch]
        replies: list[str] = [""] * len(rows)
        # Rows of one context together, then similar lengths: less padding per batch.
        order = sorted(range(len(rows)), key=lambda i: (len(rows[i][0]), rows[i][0],
                                                         len(rows[i][1])))
        chunks = [order[start:start + self.batch_size]
                  for start in range(0, len(order), self.batch_size)]
        with self._lock:
            for chunk, texts in zip(chunks, self._run(chunks, rows, max_new_tokens)):
                for i, text in zip(chunk, texts):
                    replies[i] = text
        return replies

    def _run(self, chunks: list[list[int]], rows: list[tuple[tuple[int, ...], list[int]]],
             max_new_tokens: int) -> list[list[str]]:
        torch = self._torch

        def generate(chunk: list[int]) -> list[str]:
            with torch.inference_mode():  # thread-local: entered on each worker
                return self._generate([rows[i] for i in chunk], max_new_tokens)

        workers = min(self.workers, len(chunks))
        if workers <= 1:  # 0: an empty batch
            return [generate(chunk) for chunk in chunks]
        threads = torch.get_num_threads()  # a process-wide setting: restored after
        torch.set_num_threads(max(1, threads // workers))
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(generate, chunks))
        finally:
            torch.set_num_threads(threads)

    def _ids(self, messages: Sequence[Message], generation_prompt: bool) -> list[int]:
        ids = self.tokenizer.apply_chat_template(list(messages), tokenize=True,
                                                 add_generation_prompt=generation_prompt)
        if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
            ids = ids["input_ids"]
        return [int(t) for t in ids]

    def _encode(self, conversation: Conversation) -> tuple[tuple[int, ...], list[int]]:
        """(cacheable context, own tokens) of one conversation."""
        full = self._ids(conversation, True)
        if len(conversation) > 1:
            context = self._ids(conversation[:-1], False)
            if (self.min_prefix_tokens <= len(context) < len(full)
                    and full[:len(context)] == context):
                # The last turn's opening (its role header) is the same in every
                # conversation with this context: it is cached with the context.
                opening = self._ids([*conversation[:-1], Message(
                    role=conversation[-1]["role"], content="")], False)
                n = len(context)
                while n < min(len(opening), len(full) - 1) and opening[n] == full[n]:
                    n += 1
                return tuple(full[:n]), full[n:]
        return (), full

    def _generate(self, rows: list[tuple[tuple[int, ...], list[int]]],
                  max_new_tokens: int) -> list[str]:
        torch = self._torch
        device = self.model.device
        pad = self.tokenizer.pad_token_id
        p_max = max(len(context) for context, _ in rows)
        width = max(len(own) for _, own in rows)
        ids = torch.full((len(rows), p_max + width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, (context, own) in enumerate(rows):
            if context:
                ids[r, p_max - len(context):p_max] = torch.tensor(context)
                mask[r, p_max - len(context):p_max] = 1
            ids[r, p_max + width - len(own):] = torch.tensor(own)
            mask[r, p_max + width - len(own):] = 1
        cache = self._batch_cache([c for c, _ in rows], p_max, room=width + max_new_tokens)
        return self._decode(ids.to(device), mask.to(device), p_max, cache, max_new_tokens)

    def _decode(self, ids: Any, mask: Any, cached: int, cache: Any,
                max_new_tokens: int) -> list[str]:
        """Greedy decoding that lets finished rows go as it goes.

        generate() keeps computing rows that are done until the slowest row stops; with
        replies of very different lengths that is half the work. Here a finished row is
        fed padding until a quarter of the batch is finished, then the finished rows
        leave the batch and its KV cache together: dropping them one by one would copy
        the whole cache at almost every step.
        """
        from memoird.editor.model import kv_cache_arg

        torch = self._torch
        pad = self.tokenizer.pad_token_id
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        self.pause()
        out = self.model(input_ids=ids[:, cached:], attention_mask=mask,
                         position_ids=positions[:, cached:], **kv_cache_arg(self.model, cache),
                         use_cache=True, logits_to_keep=1)
        live: list[int | None] = list(range(ids.shape[0]))  # original row; None: finished
        produced: list[list[int]] = [[] for _ in live]
        last_pos = positions[:, -1]
        eos = set(self._eos)
        newlines = self._newlines() if self.stop_on_repeat or self.one_line else set()
        for _ in range(max_new_tokens):
            tokens = out.logits[:, -1].argmax(-1)
            chosen = tokens.tolist()
            for b, token in enumerate(chosen):
                row = live[b]
                if row is None:
                    continue
                if token in eos:
                    live[b] = None
                    continue
                produced[row].append(token)
                if self.one_line and token in newlines and any(
                        t not in newlines for t in produced[row]):
                    live[b] = None  # the line is done (the caller reads its first line)
                    continue
                if token in newlines and self.stop_on_repeat and _looping(produced[row], newlines):
                    live[b] = None
            done = [b for b, row in enumerate(live) if row is None]
            if len(done) == len(live):
                break
            if done:
                tokens[torch.tensor(done, device=tokens.device)] = pad
            if 4 * len(done) >= len(live):
                keep = [b for b, row in enumerate(live) if row is not None]
                index = torch.tensor(keep, device=ids.device)
                cache.batch_select_indices(index)
                tokens, mask, last_pos = tokens[index], mask[index], last_pos[index]
                live = [live[b] for b in keep]
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            last_pos = last_pos + 1
            self.pause()
            out = self.model(input_ids=tokens[:, None], attention_mask=mask,
                             position_ids=last_pos[:, None], **kv_cache_arg(self.model, cache),
                             use_cache=True)
        return self.tokenizer.batch_decode(produced, skip_special_tokens=True)

    def _context_cache(self, context: tuple[int, ...]) -> list[tuple[Any, Any]]:
        """Per-layer (keys, values) of one context, computed once and kept (LRU)."""
        from memoird.editor.model import kv_cache_of

        with self._prefix_lock:
            cached = self._prefixes.get(context)
            if cached is None:
                ids = self._torch.tensor([context], dtype=self._torch.long,
                                         device=self.model.device)
                past = kv_cache_of(self.model(input_ids=ids, use_cache=True))
                cached = [(layer.keys, layer.values) for layer in past.layers]
                self._prefixes[context] = cached
                while len(self._prefixes) > self._prefix_cache_size:
                    self._prefixes.popitem(last=False)
            else:
                self._prefixes.move_to_end(context)
            return cached

    def _batch_cache(self, contexts: list[tuple[int, ...]], p_max: int, room: int) -> Any:
        """The batch's KV cache, with ``room`` more positions per row: each row's cached
        context, left-padded to ``p_max``."""
        from transformers import DynamicCache

        from .slab_cache import SlabLayer

        n_layers = self.model.config.num_hidden_layers
        cache = DynamicCache()
        cache.layers = [SlabLayer(room) for _ in range(n_layers)]
        per_row = [self._context_cache(c) if c else None for c in contexts]
        template = next((layers for layers in per_row if layers is not None), None)
        if template is None:
            return cache
        for layer, (k0, v0) in enumerate(template):
            keys, values = cache.layers[layer].start(len(contexts), k0, v0, p_max)
            for r, layers in enumerate(per_row):
                if layers is not None:
                    k, v = layers[layer]
                    keys[r, :, p_max - k.shape[2]:] = k[0]
                    values[r, :, p_max - v.shape[2]:] = v[0]
        return cache

    def _newlines(self) -> set[int]:
        if self._newline_ids is None:
            vocab = self.tokenizer.get_vocab()
            self._newline_ids = {i for i in vocab.values()
                                 if "\n" in self.tokenizer.decode([i])}
        return self._newline_ids


def _looping(tokens: list[int], newlines: set[int]) -> bool:
    """True when the line just finished is the third copy of one line (a loop, not a
    legitimate repeat)."""
    lines, current = [], []
    for token in tokens:
        if token in newlines:
            lines.append(tuple(current))
            current = []
        else:
            current.append(token)
    return bool(lines) and bool(lines[-1]) and lines[:-1].count(lines[-1]) >= 2


RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIChat:
    """Any OpenAI-compatible /v1/chat/completions endpoint (vLLM, TGI, llama.cpp server).

    Each conversation is one request; up to ``concurrency`` are in flight at once so a
    serving cluster can batch them. Transient failures (timeouts, connection errors, 429
    and 5xx) are retried with exponential backoff and jitter, honouring Retry-After; other
    errors fail at once, because retrying a 400 or 401 only hides a misconfiguration.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 api_key_env: str = "MEMOIRD_EXTRACT_API_KEY", timeout_s: float = 60.0,
                 connect_timeout_s: float = 5.0, max_retries: int = 4,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 concurrency: int = 8, transport: httpx.BaseTransport | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise ChatError(f"OpenAIChat: endpoint {base_url!r} is not an http(s) URL")
        if concurrency < 1:
            raise ChatError(f"OpenAIChat: concurrency must be >= 1, got {concurrency}")
        root = base_url.rstrip("/")
        self.url = root + ("/chat/completions" if root.endswith("/v1")
                           else "/v1/chat/completions")
        self.model = model
        self.name = model
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.concurrency = concurrency
        key = api_key if api_key is not None else (os.environ.get(api_key_env)
                                                   or os.environ.get("OPENAI_API_KEY"))
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=concurrency,
                                max_keepalive_connections=concurrency),
            headers=headers, follow_redirects=False, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OpenAIChat":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def chat(self, batch: Sequence[Conversation], max_new_tokens: int,
             temperature: float = 0.0) -> list[str]:
        check_batch(batch, f"OpenAIChat({self.url})")
        if not batch:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batch))) as pool:
            return list(pool.map(lambda c: self._one(c, max_new_tokens, temperature), batch))

    def _one(self, conversation: Conversation, max_new_tokens: int,
             temperature: float) -> str:
        payload = {"model": self.model, "messages": list(conversation),
                   "max_tokens": max_new_tokens, "temperature": temperature}
        last = ""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                response = self._client.post(self.url, json=payload)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return self._content(response)
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRY_STATUS:
                    raise ChatError(f"OpenAIChat({self.url}): {last}")
                retry_after = _retry_after(response)
            if attempt < self.max_retries:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
                delay = retry_after if retry_after is not None else delay * (0.5 + random.random())
                log.warning("chat endpoint %s failed (%s); retry %d in %.2fs",
                            self.url, last, attempt + 1, delay)
                time.sleep(min(delay, self.max_backoff_s))
        raise ChatError(f"OpenAIChat({self.url}): gave up after {self.max_retries + 1} "
                        f"attempts; last error {last}")

    def _content(self, response: httpx.Response) -> str:
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ChatError(f"OpenAIChat({self.url}): response is not a chat completion: "
                            f"{response.text[:200]!r}") from exc
        return content if isinstance(content, str) else ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
