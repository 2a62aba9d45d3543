"""What one decoding run produced, token by token: text, finish reason, usage, logprobs.

The engine (daemon/engine.py) hands every decoding step of ``generate`` to a
``Recorder``: the token each row chose and, when logprobs were asked for, the
log-probabilities the same forward pass gave that token and its top alternatives. The
recorder turns the token stream into text (incrementally, so a streamed client gets the
same text as a batched one), cuts it at stop strings (holding back text that may still
turn into one), notices end-of-sequence and the token budget, and tells the engine when
a row is finished so decoding stops early.

Nothing here touches the model: it is bookkeeping over token ids and numbers, tested on
its own and shared by the non-streamed and the streamed path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

#: finish reasons, as OpenAI names them
STOP, LENGTH = "stop", "length"


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its text (OpenAI's convention for partial UTF-8: ``bytes:\\x..``),
    its UTF-8 bytes, its log-probability and the top alternatives at that step."""

    id: int
    token: str
    bytes: bytes
    logprob: float
    top: tuple[tuple[str, bytes, float], ...] = ()
    offset: int = 0  # character offset of the token in the completion text


@dataclass
class Completion:
    """The answer for one prompt."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[TokenLogprob] | None = None
    memory_generation: int | None = None


@dataclass
class Delta:
    """A streamed piece of one row: new text, the tokens it completes (with logprobs when
    asked), and, on the last delta, the finish reason and the token counts."""

    text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    memory_generation: int | None = None


# ---------------------------------------------------------------- token bytes


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, inverted: each of the 256 bytes has one printable
    character standing for it in byte-level BPE vocabularies."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_DECODER = _byte_decoder()
_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class TokenTable:
    """The exact UTF-8 bytes of each token id, and the string OpenAI shows for it.

    Byte-level BPE (GPT-2, SmolLM2, Llama 3) spells each byte as one character;
    SentencePiece (Gemma) writes spaces as ``▁`` and unknown bytes as ``<0xNN>``. Any
    other tokenizer falls back to decoding the token on its own.
    """

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        decoder = repr(getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", ""))
        if "ByteLevel" in decoder:
            self.kind = "byte_level"
        elif "ByteFallback" in decoder or "Metaspace" in decoder or "▁" in decoder:
            self.kind = "sentencepiece"
        else:
            self.kind = "other"
        self._cache: dict[int, tuple[str, bytes]] = {}

    def __call__(self, token_id: int) -> tuple[str, bytes]:
        hit = self._cache.get(token_id)
        if hit is None:
            raw = self._bytes(token_id)
            hit = self._cache[token_id] = (token_text(raw), raw)
        return hit

    def _bytes(self, token_id: int) -> bytes:
        if self.kind != "other":
            piece = self.tokenizer.convert_ids_to_tokens(int(token_id))
            if isinstance(piece, str):
                if self.kind == "byte_level" and all(c in _BYTE_DECODER for c in piece):
                    return bytes(_BYTE_DECODER[c] for c in piece)
                if self.kind == "sentencepiece":
                    match = _BYTE_FALLBACK.fullmatch(piece)
                    if match:
                        return bytes([int(match.group(1), 16)])
                    return piece.replace("▁", " ").encode("utf-8")
        return self.tokenizer.decode([int(token_id)]).encode("utf-8")


def token_text(raw: bytes) -> str:
    """The token as text; a token that is not whole UTF-8 reads ``bytes:\\xe2\\x80`` (as in
    OpenAI's API), its ``bytes`` field giving the exact value."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in raw)


# ---------------------------------------------------------------- stop strings


def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """Cut a completion at the first stop string, as the OpenAI API does."""
    if not stop:
        return text
    cuts = [text.find(s) for s in stop if s]
    cuts = [c for c in cuts if c >= 0]
    return text[: min(cuts)] if cuts else text


def stop_holdback(text: str, stop: Sequence[str]) -> int:
    """How many characters at the end of ``text`` could still grow into a stop string
    (they are not streamed until the next tokens decide)."""
    longest = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:k]):
                longest = k
                break
    return longest


# ---------------------------------------------------------------- the recorder


@dataclass
class _Row:
    prompt_tokens: int
    ids: list[int] = field(default_factory=list)  # generated, without the final EOS
    text: str = ""
    tokens: list[TokenLogprob] = field(default_factory=list)
    generated: int = 0  # decoding steps this row took (an EOS counts, as OpenAI counts it)
    finish: str | None = None
    cut: int | None = None  # where a stop string starts
    prefix: int = 0  # incremental detokenisation window (ids[prefix:read] is decoded text)
    read: int = 0
    sent_text: int = 0
    sent_tokens: int = 0


OnDelta = Callable[[int, Delta], None]


class Recorder:
    """Turns decoding steps into completions; one per ``generate`` call.

    ``step(tokens, chosen_logprobs, top_ids, top_logprobs)`` is called once per decoding
    step with one entry per row (the logprob arguments are None when not asked for);
    ``done`` says which rows are finished. ``on_delta(row, delta)`` receives the text as it
    becomes final (streaming); ``completions()`` gives the result after the run.
    """

    def __init__(self, tokenizer: Any, prompt_tokens: Sequence[int], max_new_tokens: int,
                 stop: Sequence[str] | None, eos_ids: set[int], table: TokenTable | None = None,
                 on_delta: OnDelta | None = None):
        self.tokenizer = tokenizer
        self.rows = [_Row(n) for n in prompt_tokens]
        self.max_new_tokens = max_new_tokens
        self.stop = [s for s in (stop or []) if s]
        self.eos_ids = eos_ids
        self.table = table
        self.on_delta = on_delta
        self.memory_generation: int | None = None

    @property
    def done(self) -> list[bool]:
        return [row.finish is not None for row in self.rows]

    @property
    def all_done(self) -> bool:
        return all(row.finish is not None for row in self.rows)

    def step(self, tokens: Sequence[int], chosen: Sequence[float] | None = None,
             top_ids: Sequence[Sequence[int]] | None = None,
             top_logprobs: Sequence[Sequence[float]] | None = None) -> None:
        for r, row in enumerate(self.rows):
            if row.finish is not None:
                continue  # finished rows decode padding until the batch ends
            token = int(tokens[r])
            row.generated += 1
            if token in self.eos_ids:
                self._finish(r, STOP)
                continue
            row.ids.append(token)
            if chosen is not None and self.table is not None:
                text, raw = self.table(token)
                top = ()
                if top_ids is not None and top_logprobs is not None:
                    top = tuple((*self.table(int(t)), float(v))
                                for t, v in zip(top_ids[r], top_logprobs[r]))
                row.tokens.append(TokenLogprob(token, text, raw, float(chosen[r]), top,
                                               len(row.text)))
            row.text += self._detokenize(row)
            if self.stop:
                cut = cut_at_stop(row.text, self.stop)
                if len(cut) < len(row.text):
                    row.cut = len(cut)
                    self._finish(r, STOP)
                    continue
            if row.generated >= self.max_new_tokens:
                self._finish(r, LENGTH)
                continue
            self._emit(r)

    def cancel(self) -> None:
        """The client went away: finish every row where it stands."""
        for r, row in enumerate(self.rows):
            if row.finish is None:
                self._finish(r, STOP)

    def end(self) -> None:
        """Decoding ended: a row still open ran out of budget (or the model stopped)."""
        for r, row in enumerate(self.rows):
            if row.finish is None:
                self._finish(r, LENGTH if row.generated >= self.max_new_tokens else STOP)

    def completions(self) -> list[Completion]:
        out = []
        for row in self.rows:
            text = row.text if row.cut is None else row.text[: row.cut]
            out.append(Completion(
                text=text, finish_reason=row.finish or STOP, prompt_tokens=row.prompt_tokens,
                completion_tokens=row.generated,
                logprobs=self._kept_tokens(row) if self.table is not None else None,
                memory_generation=self.memory_generation))
        return out

    # ------------------------------------------------------------ internals

    def _detokenize(self, row: _Row) -> str:
        """The text the newest token adds (TGI's prefix/read offsets): decoding a short
        window keeps this linear, and a token that ends inside a UTF-8 character adds
        nothing until the character is complete."""
        decode = self.tokenizer.decode
        before = decode(row.ids[row.prefix:row.read], skip_special_tokens=True)
        after = decode(row.ids[row.prefix:], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            row.prefix, row.read = row.read, len(row.ids)
            return after[len(before):]
        return ""

    def _kept_tokens(self, row: _Row) -> list[TokenLogprob]:
        if row.cut is None:
            return list(row.tokens)
        return [t for t in row.tokens if t.offset < row.cut]

    def _finish(self, r: int, reason: str) -> None:
        row = self.rows[r]
        if row.cut is None and row.read < len(row.ids):  # bytes left in the window
            tail = self.tokenizer.decode(row.ids[row.prefix:], skip_special_tokens=True)
            head = self.tokenizer.decode(row.ids[row.prefix:row.read], skip_special_tokens=True)
            row.text += tail[len(head):]
            row.prefix = row.read = len(row.ids)
        row.finish = reason
        self._emit(r)

    def _emit(self, r: int) -> None:
        if self.on_delta is None:
            return
        row = self.rows[r]
        if row.finish is None:
            ready = len(row.text) - stop_holdback(row.text, self.stop)
            tokens = [t for t in row.tokens[row.sent_tokens:] if t.offset < ready]
        else:
            ready = len(row.text) if row.cut is None else row.cut
            tokens = self._kept_tokens(row)[row.sent_tokens:]
        piece = row.text[row.sent_text:ready] if ready > row.sent_text else ""
        if not piece and not tokens and row.finish is None:
            return
        row.sent_text = max(row.sent_text, ready)
        row.sent_tokens += len(tokens)
        delta = Delta(piece, tokens, memory_generation=self.memory_generation)
        if row.finish is not None:
            delta.finish_reason = row.finish
            delta.prompt_tokens = row.prompt_tokens
            delta.completion_tokens = row.generated
        self.on_delta(r, delta)
