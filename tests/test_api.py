"""The HTTP API over a real SQLite store and a real uvicorn server on loopback.

The model is a stand-in here (FakeEngine): these tests are about HTTP, auth, the edit
log and feeds. The real model behind /v1/* is tested in test_openai_client.py (with the
official ``openai`` client) and test_service_e2e.py.
"""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from memoird.daemon.actions import EDIT_ACTIONS
from memoird.daemon.api import create_app
from memoird.store import edits as edit_log
from memoird.store.checkpoints import register_checkpoint

from service_support import TOKEN, FakeEngine, fake_service, live_server, seed_edit

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One daemon app over a seeded database: 12 edits in every status that matters."""
    data_dir = tmp_path_factory.mktemp("api")
    engine = FakeEngine(delay=0.05)
    service = fake_service(data_dir, engine=engine)
    db = service.rt.db()
    statuses = ["pending"] * 5 + ["applied"] * 4 + ["rejected", "reverted", "failed"]
    seeded = [seed_edit(db, i, status, created_at=f"2026-01-{i + 1:02d}T10:00:00+00:00")
              for i, status in enumerate(statuses)]
    register_checkpoint(db, data_dir / "checkpoints" / "base", status="active", note="base")
    with live_server(create_app(service)) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, service, engine, seeded


def test_health_ready_models_and_openapi(server):
    client, service, _, _ = server
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"model": "loaded", "database": "writable"}
    [card] = client.get("/v1/models").json()["data"]
    assert card["id"] == "fake-model:checkpoint-1:memory-7" and card["root"] == "fake-model"
    paths = client.get("/openapi.json").json()["paths"]
    assert {p.rsplit("/", 1)[1] for p in paths if p.startswith("/api/edits/{edit_id}/")} \
        == set(EDIT_ACTIONS)
    for path in ("/v1/completions", "/v1/chat/completions", "/api/edits",
                 "/api/edits/{edit_id}/revert", "/api/feeds/{feed_id}/pause"):
        assert path in paths
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "engine_loaded", False)
        loading = client.get("/readyz")
        assert loading.status_code == 503 and loading.json()["checks"]["model"] == "loading"
        loading = client.post("/v1/completions", json={"prompt": "x"})
        assert loading.status_code == 503 and loading.headers["retry-after"] == "5"
        assert loading.json()["error"]["code"] == "model_loading"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "stopping", True)  # after SIGTERM: drained, still serving
        stopping = client.get("/readyz")
        assert stopping.status_code == 503 and stopping.json()["checks"]["process"] == "stopping"
        assert client.post("/v1/completions", json={"prompt": "x"}).status_code == 200


def test_readyz_fails_when_the_database_file_is_gone(tmp_path):
    service = fake_service(tmp_path)
    service.rt.db()
    with live_server(create_app(service)) as url:
        assert httpx.get(f"{url}/readyz").status_code == 200
        service.rt.paths.db.rename(tmp_path / "moved.db")  # e.g. the volume went away
        response = httpx.get(f"{url}/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("not writable")


def test_edit_log_filters_and_pages(server):
    client, *_ = server
    page = client.get("/api/edits", params={"limit": 5}).json()
    assert page["total"] == 12 and len(page["items"]) == 5
    assert float(client.get("/api/edits").headers["server-timing"].split("dur=")[1]) > 0
    assert [e["id"] for e in page["items"]] == [12, 11, 10, 9, 8]  # newest first
    assert "mask" not in page["items"][0] and "mask_size" in page["items"][0]
    second = client.get("/api/edits", params={"limit": 5, "offset": 5}).json()
    assert [e["id"] for e in second["items"]] == [7, 6, 5, 4, 3]
    pending = client.get("/api/edits", params={"status": "pending"}).json()
    assert pending["total"] == 5 and {e["status"] for e in pending["items"]} == {"pending"}
    both = client.get("/api/edits", params=[("status", "applied"), ("status", "failed")]).json()
    assert both["total"] == 5
    assert client.get("/api/edits", params={"subject": "player 11"}).json()["total"] == 1
    assert client.get("/api/edits", params={"relation": "P169"}).json()["total"] == 4
    since = client.get("/api/edits", params={"since": "2026-01-10T00:00:00+00:00"}).json()
    assert since["total"] == 3
    bad = client.get("/api/edits", params={"status": "bogus"})
    assert bad.status_code == 422 and "bogus" in bad.json()["detail"]
    assert client.get("/api/edits", params={"since": "yesterday"}).status_code == 422


def test_edit_detail_has_full_provenance(server):
    client, *_ = server
    detail = client.get("/api/edits/6").json()  # seeded index 5: applied
    assert detail["edit"]["status"] == "applied" and detail["edit"]["mask_size"] > 0
    assert detail["policy_rule"] == "min_domains=2"
    assert detail["claim"]["domain_count"] == 2
    assert {s["domain"] for s in detail["sources"]} == {"wire.example", "dispatch.example"}
    source = detail["sources"][0]
    assert source["evidence"] == "Player 5 signed for Club 5 on Monday."
    assert source["url"].startswith("https://") and source["feed_url"].endswith("/feed.xml")
    assert detail["probes"][0]["answer"] == "Old Town FC"
    assert detail["probes"][0]["verdict"] == "conflicts"
    assert detail["after"] == {"answer_after": "Club 5", "rel_em": 1.0}
    assert [e["to_status"] for e in detail["events"]] == ["approved", "applied"]
    missing = client.get("/api/edits/9999")
    assert missing.status_code == 404 and "9999" in missing.json()["detail"]


def test_edit_provenance_redacts_feed_credentials(server):
    from memoird.store import feeds

    client, service, *_ = server
    db = service.rt.db()
    feed = feeds.get_feed_by_url(db, "https://wire.example/feed.xml")
    feeds.update_feed(db, feed.id, url="https://bob:hunter2@wire.example/feed.xml")
    try:
        detail = client.get("/api/edits/6")
        assert "hunter2" not in detail.text
        assert any(s["feed_url"] == "https://***@wire.example/feed.xml"
                   for s in detail.json()["sources"])
    finally:
        feeds.update_feed(db, feed.id, url="https://wire.example/feed.xml")


def test_actions_need_the_bearer_token(server):
    client, *_ = server
    assert client.post("/api/edits/1/approve").status_code == 401
    wrong = client.post("/api/edits/1/approve", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/feeds", json={"url": "https://x.example/rss"}).status_code == 401
    assert client.get("/api/edits/1").json()["edit"]["status"] == "pending"  # unchanged


def test_without_a_configured_token_writes_are_refused(tmp_path):
    service = fake_service(tmp_path, token=None)
    seed_edit(service.rt.db(), 0)
    with live_server(create_app(service)) as url:
        response = httpx.post(f"{url}/api/edits/1/approve", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401
    assert "MEMOIRD_API_TOKEN" in response.json()["detail"]


def test_distill_now_needs_the_token_and_a_distillation_job(server):
    client, service, _, _ = server
    assert client.post("/api/distill").status_code == 401
    response = client.post("/api/distill", headers=AUTH)  # no scheduler in this app
    assert response.status_code == 409 and "[distill] schedule" in response.json()["detail"]
    woken = []
    service.scheduler = type("Scheduler", (), {"health": {"distill": None},
                                               "run_now": woken.append})()
    try:
        assert client.post("/api/distill", headers=AUTH).status_code == 202
    finally:
        service.scheduler = None
    assert woken == ["distill"]


def test_approve_reject_revert(server):
    client, service, engine, _ = server
    approved = client.post("/api/edits/1/approve", headers=AUTH,
                           json={"reason": "checked sources", "actor": "alice"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    events = edit_log.edit_events(service.rt.db(), 1)
    assert (events[-1].actor, events[-1].reason) == ("alice", "checked sources")

    assert client.post("/api/edits/2/reject", headers=AUTH).json()["status"] == "rejected"
    # an applied edit cannot be rejected, only reverted
    refused = client.post("/api/edits/7/reject", headers=AUTH)
    assert refused.status_code == 409 and "applied" in refused.json()["detail"]

    reverted = client.post("/api/edits/7/revert", headers=AUTH, json={"reason": "wrong"})
    assert reverted.status_code == 200 and reverted.json()["status"] == "reverted"
    assert engine.reverted == [7]
    edit = edit_log.get_edit(service.rt.db(), 7)
    assert edit.memory_generation == 101
    again = client.post("/api/edits/7/revert", headers=AUTH)
    assert again.status_code == 409 and engine.reverted == [7]  # not touched twice
    assert client.post("/api/edits/9999/approve", headers=AUTH).status_code == 404


def test_feeds_management(server):
    client, *_ = server
    listed = client.get("/api/feeds").json()["items"]
    assert {f["url"] for f in listed} >= {"https://wire.example/feed.xml"}
    assert all(f["health"] == "new" and f["articles"] > 0 for f in listed)

    added = client.post("/api/feeds", headers=AUTH,
                        json={"url": "https://new.example/rss", "title": "New", "trust": 0.7})
    assert added.status_code == 201
    feed_id = added.json()["id"]
    dup = client.post("/api/feeds", headers=AUTH, json={"url": "https://new.example/rss"})
    assert dup.status_code == 409
    bad = client.post("/api/feeds", headers=AUTH, json={"url": "ftp://nope"})
    assert bad.status_code == 422 and "ftp://nope" in bad.json()["detail"]

    paused = client.post(f"/api/feeds/{feed_id}/pause", headers=AUTH, json={"reason": "noisy"})
    assert paused.json()["status"] == "paused" and paused.json()["paused_reason"] == "noisy"
    health = {f["id"]: f["health"] for f in client.get("/api/feeds").json()["items"]}
    assert health[feed_id] == "paused"
    assert client.post(f"/api/feeds/{feed_id}/resume", headers=AUTH).json()["status"] == "active"
    assert client.delete(f"/api/feeds/{feed_id}", headers=AUTH).json()["status"] == "removed"
    assert feed_id not in {f["id"] for f in client.get("/api/feeds").json()["items"]}


def test_feed_credentials_are_redacted_and_removed_feeds_stay_removed(server):
    client, *_ = server
    secret = "https://alice:s3cret@private.example.com/feed.xml"
    added = client.post("/api/feeds", headers=AUTH, json={"url": secret, "title": "Private"})
    assert added.status_code == 201
    assert added.json()["url"] == "https://***@private.example.com/feed.xml"
    feed_id = added.json()["id"]
    listed = client.get("/api/feeds")                     # unauthenticated
    assert "s3cret" not in listed.text and "https://***@private.example.com" in listed.text
    dup = client.post("/api/feeds", headers=AUTH, json={"url": secret})
    assert dup.status_code == 409 and "s3cret" not in dup.text
    bad = client.post("/api/feeds", headers=AUTH, json={"url": "https://exa mple.org/rss"})
    assert bad.status_code == 422 and "exa mple.org" in bad.json()["detail"]

    removed = client.delete(f"/api/feeds/{feed_id}", headers=AUTH)
    assert removed.status_code == 200 and "s3cret" not in removed.text
    again = client.delete(f"/api/feeds/{feed_id}", headers=AUTH)
    assert again.status_code == 409 and "already removed" in again.json()["detail"]
    resumed = client.post(f"/api/feeds/{feed_id}/resume", headers=AUTH)
    assert resumed.status_code == 409 and "removed" in resumed.json()["detail"]
    gone = client.get("/api/feeds", params={"status": "removed"}).json()["items"]
    assert [f["status"] for f in gone if f["id"] == feed_id] == ["removed"]


def test_checkpoints_and_status(server):
    client, *_ = server
    items = client.get("/api/checkpoints").json()["items"]
    assert len(items) == 1 and items[0]["status"] == "active"
    status = client.get("/api/status").json()
    assert status["memory"]["bytes"] == 4096 and status["memory"]["generation"] == 7
    assert status["writes_enabled"] is True and status["edits"]["failed"] == 1


def test_metrics_parse_with_the_prometheus_parser(server):
    client, service, *_ = server
    client.post("/v1/completions", json={"prompt": "Hello"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    edits_by_status = {s.labels["status"]: s.value for s in families["memoird_edits"].samples}
    db = service.rt.db()
    for status, count in db.execute("SELECT status, COUNT(*) FROM edits GROUP BY status"):
        assert edits_by_status[status] == count
    assert edits_by_status["distilled"] == 0
    assert families["memoird_conflicts"].samples[0].value == 24  # 12 edits x 2 facts
    assert families["memoird_memory_bytes"].samples[0].value == 4096
    assert families["memoird_routing_hit_rate"].samples[0].value == 0.25
    routing = {s.labels["decision"]: s.value for s in families["memoird_routing_decisions"].samples}
    assert routing == {"hit": 2, "miss": 6}
    completions = {s.labels.get("outcome"): s.value for s in families["memoird_completions"].samples
                   if s.name.endswith("_total")}
    assert completions["ok"] >= 1
    for name in ("memoird_edit_seconds", "memoird_probe_seconds", "memoird_polls",
                 "memoird_routing_hit_rate", "memoird_articles", "memoird_facts"):
        assert name in families


def test_completions_batch_concurrent_requests(server):
    client, _, engine, _ = server
    engine.batches.clear()
    results = []

    def call(i):
        results.append(client.post("/v1/completions",
                                   json={"prompt": f"q{i}", "max_tokens": 4}).json())

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 12 and all(r["choices"][0]["text"] == " answer" for r in results)
    assert sum(len(b) for b in engine.batches) == 12
    assert max(len(b) for b in engine.batches) > 1  # served together, not one by one

    body = client.post("/v1/completions", json={"prompt": ["a", "a long one"], "max_tokens": 3,
                                                "stop": ["\n"], "top_p": 0.9}).json()
    assert body["object"] == "text_completion"
    assert [c["finish_reason"] for c in body["choices"]] == ["stop", "length"]
    assert body["usage"]["completion_tokens"] == 1 + 3
    bad = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 0})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "max_tokens"


def test_chat_and_streaming(server):
    client, *_ = server
    chat = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Capital of France?"}], "max_tokens": 5}).json()
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["content"] == " answer"
    assert chat["choices"][0]["message"]["role"] == "assistant"
    assert chat["model"] == "fake-model:checkpoint-1:memory-7"

    with client.stream("POST", "/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "hi"}], "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == " Paris is nice"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"

    with client.stream("POST", "/v1/completions",
                       json={"prompt": "x", "stream": True}) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    pieces = [json.loads(line[6:])["choices"][0]["text"] for line in lines[:-1]]
    assert "".join(pieces) == " Paris is nice" and lines[-1] == "data: [DONE]"


def test_dashboard_page_is_served(server):
    client, *_ = server
    page = client.get("/")
    assert page.status_code == 200 and "memoird" in page.text
    assert client.get("/static/app.js").status_code == 200
