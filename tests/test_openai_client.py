"""A stock OpenAI client against the real daemon.

``memoird run`` runs as a subprocess on loopback with the embedded model (SmolLM2-135M,
empty memory) and an OpenAI token; the official ``openai`` Python client talks to it as it
would to api.openai.com: completions, chat, streaming with ``include_usage``, logprobs,
and the errors the client maps to its exception classes (NotFoundError, BadRequestError,
AuthenticationError). One daemon serves the whole module.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai  # the `test` extra installs it (pyproject.toml)
import pytest
from openai._types import Omit  # removes a default header from one request
from service_support import free_port

pytestmark = pytest.mark.slow

TOKEN = "sk-memoird-test-51d0"
PROMPT = "The capital of France is"
READY_TIMEOUT = 300


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, embedded_model_dir):
    root = tmp_path_factory.mktemp("openai-daemon")
    port = free_port()
    config = root / "memoird.toml"
    config.write_text(f"""
[daemon]
data_dir = "{root / 'state'}"
log_format = "json"
[model]
base = "{embedded_model_dir}"
device = "cpu"
[api]
host = "127.0.0.1"
port = {port}
""")
    log = root / "daemon.log"
    env = dict(os.environ, MEMOIRD_API_OPENAI_TOKEN=TOKEN, HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("MEMOIRD_API_TOKEN", None)
    memoird = Path(sys.executable).with_name("memoird")
    with open(log, "wb") as stderr:
        proc = subprocess.Popen([str(memoird), "-c", str(config), "run"], env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"memoird run exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"memoird run not ready after {READY_TIMEOUT} s:\n"
                            f"{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def client(daemon):
    with openai.OpenAI(base_url=f"{daemon}/v1", api_key=TOKEN, max_retries=0,
                       timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def model_id(client):
    [model] = client.models.list().data
    return model.id


def test_models_name_the_checkpoint_and_memory_generation(client, model_id):
    assert model_id == "smollm2-135m-instruct:checkpoint-1:memory-0"
    assert client.models.retrieve("smollm2-135m-instruct").id == model_id
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("gpt-4o")
    assert info.value.code == "model_not_found"


def test_completion_with_logprobs(client, model_id):
    # the plain name, as clients that hard-code it send it
    result = client.completions.create(model="smollm2-135m-instruct", prompt=PROMPT,
                                       max_tokens=6, temperature=0, logprobs=3, stop=["\n"])
    assert result.model == model_id and result.object == "text_completion"
    [choice] = result.choices
    assert "Paris" in choice.text and "\n" not in choice.text
    assert choice.finish_reason in ("stop", "length")
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens).startswith(choice.text)
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == len(logprobs.top_logprobs)
    assert logprobs.text_offset[0] == len(PROMPT)
    for token, lp, top in zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs):
        assert lp <= 0 and token in top and 3 <= len(top) <= 4
        assert max(top.values()) == pytest.approx(lp)  # greedy picks the most likely
    assert result.usage.completion_tokens >= len(logprobs.tokens)
    assert result.usage.prompt_tokens == 5


def test_chat_with_logprobs(client, model_id):
    result = client.chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_completion_tokens=8, temperature=0, logprobs=True, top_logprobs=2)
    [choice] = result.choices
    assert choice.message.role == "assistant" and choice.message.content
    content = choice.logprobs.content
    assert bytes(b for t in content for b in t.bytes).decode() == choice.message.content
    assert all(len(t.top_logprobs) == 2 and t.top_logprobs[0].logprob == pytest.approx(t.logprob)
               for t in content)
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens


def test_streaming_with_usage(client, model_id):
    plain = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=6)
    chunks = list(client.completions.create(model=model_id, prompt=PROMPT, max_tokens=6,
                                            stream=True,
                                            stream_options={"include_usage": True}))
    *body, last = chunks
    assert last.choices == [] and last.usage == plain.usage
    assert all(c.usage is None for c in body)
    assert "".join(c.choices[0].text for c in body) == plain.choices[0].text
    assert body[-1].choices[0].finish_reason == plain.choices[0].finish_reason

    messages = [{"role": "user", "content": "Name a colour."}]
    chat = client.chat.completions.create(model=model_id, messages=messages, max_tokens=8)
    stream = client.chat.completions.create(model=model_id, messages=messages, max_tokens=8,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[-1].usage == chat.usage and chunks[-1].choices == []
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == chat.choices[0].message.content


def test_errors_map_to_the_client_exceptions(client, daemon, model_id):
    with pytest.raises(openai.NotFoundError) as info:
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt=PROMPT, max_tokens=2)
    assert info.value.code == "model_not_found" and info.value.param == "model"
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=model_id, prompt=PROMPT, max_tokens=0)
    assert info.value.param == "max_tokens"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model_id, n=2, stream=True,
                                       messages=[{"role": "user", "content": "hi"}])
    assert info.value.param == "n"
    with openai.OpenAI(base_url=f"{daemon}/v1", api_key="sk-wrong", max_retries=0) as other:
        with pytest.raises(openai.AuthenticationError) as info:
            other.completions.create(model=model_id, prompt=PROMPT, max_tokens=2)
        assert info.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):  # no Authorization header at all
            other.models.list(extra_headers={"Authorization": Omit()})
    assert httpx.get(f"{daemon}/healthz").status_code == 200  # health stays open
    assert httpx.get(f"{daemon}/metrics").status_code == 200
