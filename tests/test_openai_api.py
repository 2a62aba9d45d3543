"""OpenAI conventions of /v1/* at the HTTP level, over a stand-in engine (FakeEngine):
error shape and status codes, model names, the optional token, n, stop, logprobs shapes,
stream_options.include_usage. The real model behind the same routes, driven by the
official ``openai`` client, is in test_openai_client.py."""

from __future__ import annotations

import json

import httpx
import pytest

from memoird.daemon.api import create_app

from service_support import FakeEngine, fake_service, live_server

OPENAI_TOKEN = "sk-test-openai-7f3a"
LIVE_ID = "fake-model:checkpoint-1:memory-7"


class BrokenEngine(FakeEngine):
    def complete(self, *args, **kwargs):
        raise RuntimeError("the GPU caught fire (secret internals)")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    engine = FakeEngine()
    service = fake_service(tmp_path_factory.mktemp("openai"), engine=engine)
    with live_server(create_app(service)) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, service, engine


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["message"]
    return body["error"]


def _sse(client: httpx.Client, path: str, body: dict) -> list:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_validation_errors_are_400_with_the_parameter_named(api):
    client, *_ = api
    cases = [
        ("/v1/completions", {"prompt": "x", "max_tokens": 0}, "max_tokens"),
        ("/v1/completions", {"prompt": "x", "temperature": 3}, "temperature"),
        ("/v1/completions", {"max_tokens": 3}, "prompt"),
        ("/v1/completions", {"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ("/v1/completions", {"prompt": "x", "logprobs": 21}, "logprobs"),
        ("/v1/completions", {"prompt": "x", "n": 2, "stream": True}, "n"),
        ("/v1/completions", {"prompt": "x", "presence_penalty": 0.5}, "presence_penalty"),
        ("/v1/completions", {"prompt": "x", "logit_bias": {"50256": -100}}, "logit_bias"),
        ("/v1/completions", {"prompt": "x", "best_of": 3}, "best_of"),
        ("/v1/completions", {"prompt": "x", "echo": True, "logprobs": 1}, "echo"),
        ("/v1/completions", {"prompt": "x", "stream_options": {"include_usage": True}},
         "stream_options"),
        ("/v1/chat/completions", {"messages": []}, "messages"),
        ("/v1/chat/completions", {"messages": [{"role": "robot", "content": "hi"}]},
         "messages[0].role"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                  "top_logprobs": 2}, "top_logprobs"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                  "tools": [{"type": "function"}]}, "tools"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]},
         "messages[0].content"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                  "max_completion_tokens": 100000}, "max_completion_tokens"),
        ("/v1/completions", {"prompt": "many words " * 30, "max_tokens": 10}, "prompt"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi " * 60}],
                                  "max_tokens": 10}, "messages"),
    ]
    for path, body, param in cases:
        error = _error(client.post(path, json=body), 400)
        assert error["type"] == "invalid_request_error", (body, error)
        assert error["param"] == param, (body, error)
    too_long = client.post("/v1/completions", json={"prompt": [1] * 60, "max_tokens": 5})
    assert _error(too_long, 400)["code"] == "context_length_exceeded"
    broken_json = client.post("/v1/completions", content=b"{not json",
                              headers={"Content-Type": "application/json"})
    assert "JSON" in _error(broken_json, 400)["message"]


def test_unknown_model_is_404_and_known_names_are_accepted(api):
    client, *_ = api
    error = _error(client.post("/v1/completions", json={"model": "gpt-4o", "prompt": "x"}), 404)
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert LIVE_ID in error["message"]
    # the live id, the plain name, the checkpoint folder, and an older memory generation
    for name in (LIVE_ID, "fake-model", "fake-model:checkpoint-1:memory-3", None):
        body = {"prompt": "x", **({"model": name} if name else {})}
        response = client.post("/v1/completions", json=body)
        assert response.status_code == 200, (name, response.text)
        assert response.json()["model"] == LIVE_ID
    # another checkpoint is another model
    _error(client.post("/v1/completions",
                       json={"model": "fake-model:checkpoint-2:memory-7", "prompt": "x"}), 404)
    _error(client.post("/v1/chat/completions", json={
        "model": "nope", "messages": [{"role": "user", "content": "hi"}]}), 404)
    assert client.get(f"/v1/models/{LIVE_ID}").json()["id"] == LIVE_ID
    assert client.get("/v1/models/fake-model").json()["id"] == LIVE_ID
    assert _error(client.get("/v1/models/gpt-4o"), 404)["code"] == "model_not_found"
    [card] = client.get("/v1/models").json()["data"]
    assert card["object"] == "model" and card["memory_generation"] == 7
    assert card["checkpoint"] == 1 and "fake-model" in card["aliases"]


def test_unknown_paths_and_server_errors_under_v1(api, tmp_path):
    client, *_ = api
    assert _error(client.post("/v1/embeddings", json={}), 404)["code"] == "unknown_url"
    assert _error(client.get("/v1/completions"), 405)["type"] == "invalid_request_error"
    # outside /v1 nothing changes: FastAPI's {"detail": ...}
    assert "detail" in client.get("/api/nowhere").json()
    assert client.get("/api/edits", params={"limit": 0}).json()["detail"]

    service = fake_service(tmp_path, engine=BrokenEngine())
    with live_server(create_app(service)) as url:
        response = httpx.post(f"{url}/v1/completions", json={"prompt": "x"})
        error = _error(response, 500)
        assert error["type"] == "server_error" and "fire" not in error["message"]
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_the_optional_token_guards_v1_only(tmp_path):
    service = fake_service(tmp_path, openai_token=OPENAI_TOKEN)
    with live_server(create_app(service)) as url:
        with httpx.Client(base_url=url) as client:
            body = {"prompt": "x"}
            missing = client.post("/v1/completions", json=body)
            assert _error(missing, 401)["type"] == "invalid_request_error"
            assert missing.headers["www-authenticate"] == "Bearer"
            wrong = client.post("/v1/completions", json=body,
                                headers={"Authorization": "Bearer sk-wrong"})
            assert _error(wrong, 401)["code"] == "invalid_api_key"
            assert client.get("/v1/models").status_code == 401
            auth = {"Authorization": f"Bearer {OPENAI_TOKEN}"}
            assert client.post("/v1/completions", json=body, headers=auth).status_code == 200
            assert client.get("/v1/models", headers=auth).status_code == 200
            for open_path in ("/healthz", "/readyz", "/metrics", "/api/edits"):
                assert client.get(open_path).status_code == 200, open_path
            # the edit-log token is a different secret
            assert client.post("/v1/completions", json=body, headers={
                "Authorization": "Bearer test-token-0123456789"}).status_code == 401


def test_n_stop_and_sampling_settings_reach_the_engine(api):
    client, _, engine = api
    engine.calls.clear()
    body = client.post("/v1/completions", json={
        "prompt": ["a", "b"], "n": 3, "stop": "\n", "temperature": 0.7, "top_p": 0.9,
        "max_tokens": 5, "seed": 1, "user": "me"}).json()
    assert [c["index"] for c in body["choices"]] == list(range(6))
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 6, "total_tokens": 8}
    assert {(c["stop"] == ["\n"], c["temperature"], c["top_p"], c["max_new_tokens"])
            for c in engine.calls} == {(True, 0.7, 0.9, 5)}
    chat = client.post("/v1/chat/completions", json={
        "messages": [{"role": "developer", "content": "be brief"},
                     {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 9, "max_completion_tokens": 4, "n": 2}).json()
    assert len(chat["choices"]) == 2 and engine.calls[-1]["max_new_tokens"] == 4
    assert engine.batches[-1][0].startswith("<system>be brief\n<user>hi")
    # without a budget, chat gets 256 tokens or what is left of the context (64 here)
    client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert engine.calls[-1]["max_new_tokens"] == 64 - 2  # "<user>hi", "<assistant>"


def test_logprobs_shapes(api):
    client, *_ = api
    body = client.post("/v1/completions", json={
        "prompt": "a long prompt", "max_tokens": 2, "logprobs": 2}).json()
    logprobs = body["choices"][0]["logprobs"]
    assert logprobs["tokens"] == [" w0", " w1"]
    assert logprobs["token_logprobs"] == [-0.5, -0.5]
    assert logprobs["top_logprobs"][0] == {" w0": -0.5, " w01": -1.5}
    assert logprobs["text_offset"] == [13, 16]  # counted from the start of the prompt
    assert body["choices"][0]["finish_reason"] == "length"
    assert client.post("/v1/completions", json={"prompt": "x"}).json()[
        "choices"][0]["logprobs"] is None

    chat = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "hi"}], "logprobs": True,
        "top_logprobs": 1}).json()
    [token] = chat["choices"][0]["logprobs"]["content"]
    assert token == {"token": " answer", "logprob": -0.5, "bytes": list(b" answer"),
                     "top_logprobs": [{"token": " answer", "logprob": -0.5,
                                       "bytes": list(b" answer")}]}


def test_streams_with_usage_and_logprobs(api):
    client, *_ = api
    chunks = _sse(client, "/v1/chat/completions", {
        "messages": [{"role": "user", "content": "hi there"}], "stream": True,
        "stream_options": {"include_usage": True}, "logprobs": True, "top_logprobs": 2})
    assert all("usage" in c for c in chunks)
    *body, usage = chunks
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 3
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + 3
    assert all(c["usage"] is None for c in body)
    assert body[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert body[-1]["choices"][0]["finish_reason"] == "stop"
    content = [c["choices"][0]["logprobs"]["content"] for c in body[1:-1]]
    assert [t["token"] for part in content for t in part] == [" Paris", " is", " nice"]
    assert len(content[0][0]["top_logprobs"]) == 2
    assert {c["model"] for c in chunks} == {LIVE_ID}

    chunks = _sse(client, "/v1/completions", {"prompt": "x", "stream": True, "logprobs": 0,
                                              "echo": False})
    assert all("usage" not in c for c in chunks)  # not asked for
    texts = [c["choices"][0]["text"] for c in chunks]
    assert "".join(texts) == " Paris is nice"
    assert chunks[0]["choices"][0]["logprobs"]["text_offset"] == [1]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    echoed = _sse(client, "/v1/completions", {"prompt": "Say", "stream": True, "echo": True})
    assert "".join(c["choices"][0]["text"] for c in echoed) == "Say Paris is nice"
