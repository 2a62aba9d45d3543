"""The OpenAI-compatible API: ``/v1/models``, ``/v1/completions``, ``/v1/chat/completions``.

Served by the live edited model (base checkpoint + MEMOIR memory, routed per prompt). It
follows the conventions the official clients rely on:

- **Errors** are ``{"error": {"message", "type", "param", "code"}}`` on every ``/v1/*``
  path: 400 ``invalid_request_error`` for a bad or unsupported parameter (FastAPI's
  validation errors included, ``param`` naming the field), 401 for a missing or wrong
  token, 404 ``model_not_found`` for an unknown ``model`` (and ``unknown_url`` for an
  unknown path), 503 ``model_loading`` while the model loads, 500 ``server_error``.
  The rest of the app (``/api/*``, the dashboard) keeps FastAPI's ``{"detail": ...}``.
- **Model names.** ``/v1/models`` lists one model, the live one, with an id naming the
  base checkpoint and the memory generation: ``<name>:checkpoint-<id>:memory-<gen>``
  (``smollm2-135m-instruct:checkpoint-1:memory-7``). A request's ``model`` may be that
  id, the plain name (``smollm2-135m-instruct``, the ``root`` of the card; clients that
  hard-code it keep working through edits and distillations), the checkpoint's folder
  name, or an id of the active checkpoint with an older memory generation (the memory
  changes with every edit). Anything else is 404. Every answer's ``model`` is the full
  id of the weights that produced it.
- **Token.** When the variable named by ``[api] openai_token_env``
  (``MEMOIRD_API_OPENAI_TOKEN``) is set, every ``/v1/*`` request needs
  ``Authorization: Bearer <token>`` (the OpenAI clients' ``api_key``); ``/healthz``,
  ``/readyz`` and ``/metrics`` stay open.
- **Sampling.** ``temperature`` defaults to 0 (greedy: the answer the edit log's
  verification saw), not OpenAI's 1. ``top_p`` applies when sampling; ``seed`` and
  ``user`` are accepted and ignored. ``n`` up to 16 (not streamed). Penalties other
  than 0, ``logit_bias``, ``suffix``, ``best_of`` above ``n``, tools and JSON response
  formats are refused with a 400 naming the parameter, never silently ignored.
- **Streaming** sends OpenAI's chunks and ``data: [DONE]``; with
  ``stream_options: {"include_usage": true}`` every chunk carries ``"usage": null`` and
  a last chunk with no choices carries the usage. Text that may be the start of a stop
  string is held back until the next tokens decide.
- **Logprobs** come from the forward pass that chose each token (the model's own
  distribution, before temperature): completions ``logprobs: N`` returns ``tokens``,
  ``token_logprobs``, ``top_logprobs`` (the top N plus the chosen token) and
  ``text_offset`` (character offsets counted from the start of the prompt, as OpenAI's
  legacy API does); chat ``logprobs: true`` with ``top_logprobs: N`` returns
  ``choices[].logprobs.content[]`` with ``token``, ``logprob``, ``bytes`` and
  ``top_logprobs``. A token that is not whole UTF-8 reads ``bytes:\\xe2\\x80``.
- ``max_tokens`` and ``max_completion_tokens`` are both accepted on chat (the latter
  wins); the default is 16 for completions, 256 for chat (or what is left of the
  model's context); at most 1024. A prompt plus an explicit budget beyond the context is
  OpenAI's 400 ``context_length_exceeded``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import uuid
from typing import Any, AsyncIterator, Literal

from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.exception_handlers import (http_exception_handler,
                                        request_validation_exception_handler)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from memoird.daemon.completion import Completion, Delta, TokenLogprob

log = logging.getLogger(__name__)

#: longest completion one request may ask for; a guard against one client holding the model
MAX_TOKENS_LIMIT = 1024
#: completions per request (``n``); each is a row of the same batch
MAX_N = 16
#: alternatives per token (``logprobs`` on completions, ``top_logprobs`` on chat)
MAX_LOGPROBS = 20
COMPLETION_MAX_TOKENS = 16
CHAT_MAX_TOKENS = 256
MAX_STOPS = 4

INVALID = "invalid_request_error"
SERVER = "server_error"


# ---------------------------------------------------------------- errors


class OpenAIError(Exception):
    """An error answered in OpenAI's shape (on /v1/* paths)."""

    def __init__(self, status: int, message: str, *, type: str = INVALID,
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers


def error_response(status: int, message: str, *, type: str = INVALID,
                   param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type, "param": param,
                                   "code": code}}, status_code=status, headers=headers)


def error_chunk(message: str, type: str = SERVER, code: str | None = None) -> str:
    """An error inside a stream whose status line is already sent."""
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return f"data: {json.dumps(body)}\n\n"


def is_v1(request: Request) -> bool:
    path = request.url.path
    return path == "/v1" or path.startswith("/v1/")


async def _openai_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OpenAIError)
    return error_response(exc.status, exc.message, type=exc.type, param=exc.param,
                          code=exc.code, headers=exc.headers)


_HTTP_CODES = {401: "invalid_api_key", 403: "forbidden", 404: "unknown_url",
               405: "method_not_allowed", 503: "service_unavailable"}


async def _http_error(request: Request, exc: Exception):
    assert isinstance(exc, StarletteHTTPException)
    if not is_v1(request):
        return await http_exception_handler(request, exc)
    status = exc.status_code
    if status in (404, 405):
        message = f"Invalid URL ({request.method} {request.url.path})"
    else:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    return error_response(status, message, type=SERVER if status >= 500 else INVALID,
                          code=_HTTP_CODES.get(status), headers=getattr(exc, "headers", None))


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "literal"}


def _param(loc: tuple | list) -> str | None:
    """``("body", "messages", 0, "role")`` -> ``messages[0].role``; union-branch tags
    (``list[str]``, ``function-after[...]``) are left out."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not isinstance(part, str) or part in _TYPE_TAGS or "[" in part or "-" in part:
            break
        else:
            out += f".{part}" if out else part
    return out or None


async def _validation_error(request: Request, exc: Exception):
    assert isinstance(exc, RequestValidationError)
    if not is_v1(request):
        return await request_validation_exception_handler(request, exc)
    errors = list(exc.errors()) or [{"msg": "invalid request", "loc": ()}]
    first = errors[0]
    param = _param(first.get("loc", ()))
    kind = first.get("type", "")
    if kind in ("json_invalid", "json_type") or (kind == "missing" and param is None):
        message = ("We could not parse the JSON body of your request. The body must be a "
                   "JSON object (Content-Type: application/json).")
    elif kind == "missing":
        message = f"Missing required parameter: '{param}'."
    else:
        message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}." if param \
            else str(first.get("msg", "invalid request"))
    return error_response(400, message, param=param, code="invalid_value"
                          if kind != "missing" else "missing_required_parameter")


async def _server_error(request: Request, exc: Exception):
    """Anything unexpected: logged with its traceback (Starlette re-raises it to the
    server's log after this answer), answered without internals."""
    if not is_v1(request):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return error_response(500, "The server had an error while processing your request. "
                               "Its log has the details.", type=SERVER)


# ---------------------------------------------------------------- request bodies


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool | None = None


class _Common(BaseModel):
    """Fields both endpoints share; unknown OpenAI fields (user, seed, metadata...) are
    accepted and ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    n: int | None = Field(None, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    seed: int | None = None
    user: str | None = None


class CompletionRequest(_Common):
    """OpenAI ``/v1/completions``."""

    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)
    echo: bool | None = False
    best_of: int | None = Field(None, ge=1, le=MAX_N)
    suffix: str | None = None


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class ChatRequest(_Common):
    """OpenAI ``/v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    logprobs: bool | None = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None


# ---------------------------------------------------------------- the router


def install(app: FastAPI, service: Any) -> None:
    """Add the /v1 routes and the error handlers that give /v1/* OpenAI's error shape."""
    app.add_exception_handler(OpenAIError, _openai_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
    app.include_router(build_router(service))


def build_router(service: Any) -> APIRouter:
    bearer = HTTPBearer(auto_error=False, scheme_name="openai",
                        description="the token in the variable named by [api] openai_token_env")

    def require_openai_token(
            credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        expected = service.openai_token
        if not expected:
            return
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise OpenAIError(401, "You didn't provide an API key. You need to provide your "
                                   "API key in an Authorization header using Bearer auth "
                                   "(i.e. Authorization: Bearer YOUR_KEY).",
                              headers=challenge)
        if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
            raise OpenAIError(401, "Incorrect API key provided.", code="invalid_api_key",
                              headers=challenge)

    router = APIRouter(prefix="/v1", tags=["openai"],
                       dependencies=[Depends(require_openai_token)])

    def require_engine() -> None:
        if not service.engine_loaded:
            raise OpenAIError(503, "The model is still loading; retry in a few seconds.",
                              type=SERVER, code="model_loading", headers={"Retry-After": "5"})

    def check_model(name: str | None) -> None:
        if not service.accepts_model(name):
            raise OpenAIError(404, f"The model `{name}` does not exist or you do not have "
                                   f"access to it. This server serves `{service.model_id()}` "
                                   f"(also accepted as `{service.model_name}`).",
                              param="model", code="model_not_found")

    def card() -> dict[str, Any]:
        info = service.model_card()
        return {"id": info["id"], "object": "model", "created": int(service.started_at),
                "owned_by": "memoird", "root": info["root"], "parent": None,
                "checkpoint": info["checkpoint"],
                "memory_generation": info["memory_generation"], "aliases": info["aliases"]}

    @router.get("/models")
    def list_models() -> dict[str, Any]:
        """The live model: base checkpoint + memory generation in its id."""
        require_engine()
        return {"object": "list", "data": [card()]}

    @router.get("/models/{model:path}")
    def get_model(model: str) -> dict[str, Any]:
        require_engine()
        check_model(model)
        return card()

    @router.post("/completions")
    async def completions(body: CompletionRequest):
        """Text completion by the live model (base + MEMOIR memory, routed per prompt)."""
        require_engine()
        check_model(body.model)
        _check_common(body)
        prompts = _prompts(body.prompt)
        n = body.n or 1
        if body.best_of is not None and body.best_of > n:
            raise _unsupported("best_of", "best_of above n is not supported")
        if body.suffix:
            raise _unsupported("suffix", "suffix (insertion) is not supported")
        if body.echo and body.logprobs is not None:
            raise _unsupported("echo", "echo together with logprobs (prompt logprobs) is "
                                       "not supported")
        max_tokens = min(_fit_context(service, p, body.max_tokens or COMPLETION_MAX_TOKENS,
                                      body.max_tokens is not None, "prompt") for p in prompts)
        settings = _Settings(max_tokens, body.temperature or 0.0, _stops(body.stop),
                             {"top_p": body.top_p, "logprobs": body.logprobs})
        texts = [_prompt_text(service, p) for p in prompts]
        if body.stream:
            if len(prompts) != 1:
                raise _unsupported("prompt", "streaming takes one prompt per request")
            return _sse(service, "completions", prompts[0], settings, chat=False,
                        include_usage=_include_usage(body), echo=texts[0] if body.echo else "",
                        offset_base=len(texts[0]))
        results = await _generate(service, "completions",
                                  [p for p in prompts for _ in range(n)], settings)
        choices = []
        for i, result in enumerate(results):
            prompt_text = texts[i // n]
            choices.append({
                "index": i, "text": (prompt_text if body.echo else "") + result.text,
                "logprobs": (_completion_logprobs(result.logprobs or [], len(prompt_text))
                             if body.logprobs is not None else None),
                "finish_reason": result.finish_reason})
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
                "created": int(time.time()),
                "model": service.model_id(results[0].memory_generation),
                "choices": choices, "usage": _usage(results, n)}

    @router.post("/chat/completions")
    async def chat_completions(body: ChatRequest):
        """Chat completion: the messages go through the model's own chat template."""
        require_engine()
        check_model(body.model)
        _check_common(body)
        if body.tools or body.functions:
            raise _unsupported("tools", "tools and functions are not supported")
        if body.tool_choice not in (None, "none"):
            raise _unsupported("tool_choice", "tool_choice is not supported")
        if body.response_format and body.response_format.get("type", "text") != "text":
            raise _unsupported("response_format", "only the text response format is "
                                                  "supported")
        if body.top_logprobs is not None and not body.logprobs:
            raise OpenAIError(400, "top_logprobs needs logprobs set to true.",
                              param="top_logprobs", code="invalid_value")
        prompt = service.chat_prompt(_chat_messages(body.messages))
        n = body.n or 1
        asked = body.max_completion_tokens or body.max_tokens
        max_tokens = _fit_context(service, prompt, asked or CHAT_MAX_TOKENS, asked is not None,
                                  "messages")
        top_n = (body.top_logprobs or 0) if body.logprobs else None
        settings = _Settings(max_tokens, body.temperature or 0.0, _stops(body.stop),
                             {"top_p": body.top_p, "logprobs": top_n})
        if body.stream:
            return _sse(service, "chat", prompt, settings, chat=True,
                        include_usage=_include_usage(body))
        results = await _generate(service, "chat", [prompt] * n, settings)
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                "created": int(time.time()),
                "model": service.model_id(results[0].memory_generation),
                "choices": [{"index": i,
                             "message": {"role": "assistant", "content": r.text,
                                         "refusal": None},
                             "logprobs": ({"content": _chat_logprobs(r.logprobs or []),
                                           "refusal": None} if top_n is not None else None),
                             "finish_reason": r.finish_reason}
                            for i, r in enumerate(results)],
                "usage": _usage(results, n)}

    return router


# ---------------------------------------------------------------- request checks


class _Settings:
    """One request's decoding settings (the batcher's grouping key)."""

    def __init__(self, max_tokens: int, temperature: float, stop: list[str],
                 options: dict[str, Any]):
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.stop = stop
        self.options = options


def _unsupported(param: str, message: str) -> OpenAIError:
    return OpenAIError(400, f"{message}.", param=param, code="unsupported_parameter")


def _check_common(body: _Common) -> None:
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(body, name):
            raise _unsupported(name, f"{name} is not supported (only 0)")
    if body.logit_bias:
        raise _unsupported("logit_bias", "logit_bias is not supported")
    if body.stream_options is not None and not body.stream:
        raise OpenAIError(400, "The 'stream_options' parameter is only allowed when 'stream' "
                               "is enabled.", param="stream_options", code="invalid_value")
    if body.stream and (body.n or 1) > 1:
        raise _unsupported("n", "n above 1 is not supported with stream")


def _include_usage(body: _Common) -> bool:
    return bool(body.stream_options and body.stream_options.include_usage)


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else list(stop)
    if len(stops) > MAX_STOPS or not all(stops):
        raise OpenAIError(400, f"stop takes at most {MAX_STOPS} non-empty strings.",
                          param="stop", code="invalid_value")
    return stops


def _prompts(prompt: Any) -> list[str | list[int]]:
    """A string, a list of strings, a list of token ids, or a list of such lists."""
    if isinstance(prompt, str):
        prompts: list[Any] = [prompt]
    elif prompt and all(isinstance(t, int) for t in prompt):
        prompts = [list(prompt)]
    else:
        prompts = list(prompt)
    if not prompts or not all(prompts):
        raise OpenAIError(400, "prompt must be a non-empty string, list of strings or list "
                               "of token ids.", param="prompt", code="invalid_value")
    if len(prompts) > 64:
        raise OpenAIError(400, "at most 64 prompts per request.", param="prompt",
                          code="invalid_value")
    return prompts


def _fit_context(service: Any, prompt: str | list[int], max_tokens: int, explicit: bool,
                 param: str) -> int:
    """Prompt + completion must fit the model's context: an explicit budget that does not
    is OpenAI's 400 context_length_exceeded; the default budget shrinks to what is left."""
    limit = getattr(service.engine, "context_length", None)
    if not limit:
        return max_tokens
    n = len(prompt) if isinstance(prompt, list) else len(
        service.tokenizer(prompt)["input_ids"])
    if not explicit and n < limit:
        return min(max_tokens, limit - n)
    if n + max_tokens > limit:
        raise OpenAIError(400, f"This model's maximum context length is {limit} tokens. "
                               f"However, you requested {n + max_tokens} tokens ({n} in the "
                               f"prompt, {max_tokens} for the completion). Please reduce "
                               f"the length of the prompt or the completion.",
                          param=param, code="context_length_exceeded")
    return max_tokens


def _prompt_text(service: Any, prompt: str | list[int]) -> str:
    if isinstance(prompt, str):
        return prompt
    try:
        return service.tokenizer.decode(prompt, skip_special_tokens=False)
    except (OverflowError, IndexError, TypeError, ValueError) as exc:
        raise OpenAIError(400, f"prompt holds token ids the model does not have ({exc}).",
                          param="prompt", code="invalid_value") from None


def _chat_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    out = []
    for i, message in enumerate(messages):
        content = message.content
        if content is None:
            raise OpenAIError(400, "every message needs content (tool calls are not "
                                   "supported).", param=f"messages[{i}].content",
                              code="invalid_value")
        if not isinstance(content, str):
            parts = []
            for part in content:
                if part.type != "text" or part.text is None:
                    raise _unsupported(f"messages[{i}].content",
                                       f"only text content parts are supported, not "
                                       f"{part.type!r}")
                parts.append(part.text)
            content = "\n".join(parts)
        role = "system" if message.role == "developer" else message.role
        out.append({"role": role, "content": content})
    return out


# ---------------------------------------------------------------- answers


async def _generate(service: Any, endpoint: str, prompts: list[Any],
                    settings: _Settings) -> list[Completion]:
    started = time.perf_counter()
    try:
        results = await asyncio.gather(*(
            asyncio.wrap_future(service.generator.submit(
                p, settings.max_tokens, settings.temperature, settings.stop,
                **settings.options))
            for p in prompts))
    except Exception:
        service.metrics.completions.labels(endpoint, "error").inc()
        raise
    service.metrics.completions.labels(endpoint, "ok").inc()
    service.metrics.completion_seconds.labels(endpoint).observe(time.perf_counter() - started)
    return list(results)


def _usage(results: list[Completion], n: int = 1) -> dict[str, int]:
    prompt_tokens = sum(r.prompt_tokens for r in results[::n])  # a prompt counts once
    completion_tokens = sum(r.completion_tokens for r in results)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _completion_logprobs(tokens: list[TokenLogprob], offset_base: int) -> dict[str, Any]:
    """The legacy completions shape; each ``top_logprobs`` entry holds the top N and the
    chosen token (so up to N + 1 entries, as OpenAI documents)."""
    top = []
    for t in tokens:
        alternatives = {text: lp for text, _raw, lp in t.top}
        alternatives.setdefault(t.token, t.logprob)
        top.append(alternatives)
    return {"tokens": [t.token for t in tokens],
            "token_logprobs": [t.logprob for t in tokens],
            "top_logprobs": top,
            "text_offset": [offset_base + t.offset for t in tokens]}


def _chat_logprobs(tokens: list[TokenLogprob]) -> list[dict[str, Any]]:
    return [{"token": t.token, "logprob": t.logprob, "bytes": list(t.bytes),
             "top_logprobs": [{"token": text, "logprob": lp, "bytes": list(raw)}
                              for text, raw, lp in t.top]}
            for t in tokens]


def _sse(service: Any, endpoint: str, prompt: str | list[int], settings: _Settings,
         chat: bool, include_usage: bool, echo: str = "",
         offset_base: int = 0) -> StreamingResponse:
    """Server-sent events as OpenAI streams them: one JSON chunk per text piece, a chunk
    with the finish reason, the usage chunk when asked for, then ``data: [DONE]``. The
    engine decodes in a worker thread; deltas cross over through an asyncio queue so the
    event loop never blocks on the model. A client that goes away stops the decoding."""
    ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    created = int(time.time())
    obj = "chat.completion.chunk" if chat else "text_completion"
    model = service.model_id()
    want_logprobs = settings.options.get("logprobs") is not None

    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        data: dict[str, Any] = {"id": ident, "object": obj, "created": created,
                                "model": model, "choices": choices}
        if include_usage:
            data["usage"] = usage
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    def choice(text: str | None, tokens: list[TokenLogprob], finish: str | None,
               first: bool = False) -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {"role": "assistant"} if first else {}
            if text:
                delta["content"] = text
            logprobs = {"content": _chat_logprobs(tokens), "refusal": None} \
                if want_logprobs and not first and finish is None else None
            return {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        logprobs = _completion_logprobs(tokens, offset_base) \
            if want_logprobs and finish is None else None
        return {"index": 0, "text": text or "", "logprobs": logprobs, "finish_reason": finish}

    async def events() -> AsyncIterator[str]:
        nonlocal model
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()
        started = time.perf_counter()

        def produce() -> None:
            try:
                for delta in service.stream(prompt, settings.max_tokens, settings.temperature,
                                            settings.stop, cancel=cancel, **settings.options):
                    loop.call_soon_threadsafe(queue.put_nowait, ("delta", delta))
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
            except Exception as exc:  # reported in-band: the status line is already sent
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        worker = loop.run_in_executor(None, produce)
        try:
            if chat:
                yield chunk([choice(None, [], None, first=True)])
            elif echo:
                yield chunk([{"index": 0, "text": echo, "logprobs": None,
                              "finish_reason": None}])
            while True:
                kind, value = await queue.get()
                if kind == "error":
                    log.error("stream failed: %s", value, exc_info=value,
                              extra={"endpoint": endpoint})
                    service.metrics.completions.labels(endpoint, "error").inc()
                    yield error_chunk("The server had an error while generating the answer. "
                                      "Its log has the details.")
                    break
                if kind == "end":
                    break
                delta: Delta = value
                if delta.memory_generation is not None:
                    model = service.model_id(delta.memory_generation)
                if delta.text or delta.logprobs:
                    yield chunk([choice(delta.text, delta.logprobs, None)])
                if delta.finish_reason is not None:
                    yield chunk([choice(None, [], delta.finish_reason)])
                    service.metrics.completions.labels(endpoint, "ok").inc()
                    service.metrics.completion_seconds.labels(endpoint).observe(
                        time.perf_counter() - started)
                    if include_usage:
                        usage = {"prompt_tokens": delta.prompt_tokens,
                                 "completion_tokens": delta.completion_tokens,
                                 "total_tokens": delta.prompt_tokens + delta.completion_tokens}
                        yield chunk([], usage)
            yield "data: [DONE]\n\n"
            await worker
        finally:
            cancel.set()  # the client went away (or we are done): free the model

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
