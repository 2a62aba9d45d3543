"""Done-when test of the service: the real daemon, end to end, on loopback.

``memoird run -c CONFIG`` runs as a subprocess with the embedded model (SmolLM2-135M)
and a systemd notify socket. The test adds a news feed (served from a loopback HTTP
server) through the API, waits until the daemon's own scheduler has polled it,
extracted and probed the fact, and applied an edit; asks the OpenAI-compatible API for
a completion that uses the edit (plain and streamed), reverts the edit through the
token-protected API, checks the model no longer answers with it, and stops the daemon
with SIGTERM: exit status 0, READY=1 then STOPPING=1 on the notify socket, JSON logs.

The feed carries one story (from the bundled sample news) and the policy asks for one
source domain: extraction on CPU is the slow stage, and the two-domain rule has its
own tests (test_policy.py, test_slice.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from feedserver import FeedServer
from service_support import free_port, wait_on_daemon


TOKEN = "e2e-token-5c1f0b"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: generous: first start fits the memory's background statistics on 2 shared CPU cores
READY_TIMEOUT = 900
PIPELINE_TIMEOUT = 900


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>Adriatic Wire</title><link>https://www.adriaticwire.com/world</link>
  <description>World news</description>
  <item>
    <title>Indonesia formally moves its capital to Nusantara</title>
    <link>https://www.adriaticwire.com/world/2024/08/17/indonesia-capital-nusantara</link>
    <guid isPermaLink="false">adriaticwire-2024-0817</guid>
    <pubDate>Sat, 17 Aug 2024 09:00:00 +0700</pubDate>
    <description><![CDATA[<p>The capital of Indonesia is Nusantara.</p>]]></description>
  </item>
</channel></rss>
"""


def _notify_messages(sock: socket.socket) -> list[dict[str, str]]:
    messages = []
    while True:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return messages
        messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))


class Daemon:
    def __init__(self, tmp_path: Path, model_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp_path / "memoird.toml"
        self.config.write_text(f"""
[daemon]
data_dir = "{tmp_path / 'state'}"
log_format = "json"
[model]
base = "{model_dir}"
device = "cpu"
[feeds]
allow_networks = ["127.0.0.0/8"]
[policy]
min_domains = 1
[api]
host = "127.0.0.1"
port = {self.port}
""")
        self.log = tmp_path / "daemon.log"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(tmp_path / "notify.sock"))
        self.notify.setblocking(False)
        env = dict(os.environ, MEMOIRD_API_TOKEN=TOKEN, NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        memoird = Path(sys.executable).with_name("memoird")
        self.proc = subprocess.Popen([str(memoird), "-c", str(self.config), "run"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))
        self.client = httpx.Client(base_url=self.url, timeout=300)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def wait(self, what: str, predicate, timeout: float, every: float = 2.0):
        return wait_on_daemon(self.proc, what, predicate, timeout, every, self.tail)

    def close(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()


def test_daemon_end_to_end(tmp_path, embedded_model_dir):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "world.xml").write_text(FEED)
    with FeedServer(tmp_path / "www") as server:
        feed_url = server.url("/world.xml")
        daemon = Daemon(tmp_path, embedded_model_dir)
        try:
            _run(daemon, feed_url)
        finally:
            daemon.close()


def _run(daemon: Daemon, feed_url: str) -> None:
    c = daemon.client
    # -- start-up: liveness at once, readiness once the model is loaded, then READY=1
    daemon.wait("/healthz", lambda: c.get("/healthz").status_code == 200, 120, every=0.5)
    daemon.wait("/readyz", lambda: c.get("/readyz").status_code == 200, READY_TIMEOUT)
    ready = daemon.wait("READY=1", lambda: [m for m in _notify_messages(daemon.notify)
                                            if m.get("READY") == "1"], 30, every=0.2)
    assert "serving" in ready[0]["STATUS"]

    # -- the feed through the API (writes need the token)
    assert c.post("/api/feeds", json={"url": feed_url}).status_code == 401
    response = c.post("/api/feeds", headers=AUTH, json={"url": feed_url, "trust": 0.8})
    assert response.status_code == 201, response.text

    # -- the scheduler polls, extracts, probes, decides and applies on its own
    def an_applied_edit():
        items = c.get("/api/edits", params={"status": "applied"}).json()["items"]
        return items[0] if items else None

    edit = daemon.wait("an applied edit", an_applied_edit, PIPELINE_TIMEOUT, every=5)
    assert edit["subject"].lower() == "indonesia" and "nusantara" in edit["target"].lower()
    [feed] = c.get("/api/feeds").json()["items"]
    assert feed["health"] == "ok" and feed["articles"] == 1, feed
    detail = c.get(f"/api/edits/{edit['id']}").json()
    assert detail["sources"][0]["evidence"] and detail["sources"][0]["url"].endswith("nusantara")
    assert [e["to_status"] for e in detail["events"]][-1] == "applied"

    # -- the live model serves the edit through the OpenAI-compatible API
    ask = {"prompt": edit["prompt"], "max_tokens": 8, "temperature": 0}
    after = c.post("/v1/completions", json=ask).json()["choices"][0]["text"]
    assert edit["target"].lower() in after.lower(), (edit, after)
    with c.stream("POST", "/v1/completions", json={**ask, "stream": True}) as response:
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    streamed = "".join(json.loads(line)["choices"][0]["text"] for line in lines[:-1])
    assert streamed == after

    # -- revert through the API: the memory no longer answers with the edit
    assert c.post(f"/api/edits/{edit['id']}/revert").status_code == 401
    reverted = c.post(f"/api/edits/{edit['id']}/revert", headers=AUTH,
                      json={"reason": "e2e: operator undo"})
    assert reverted.status_code == 200 and reverted.json()["status"] == "reverted", reverted.text
    before = c.post("/v1/completions", json=ask).json()["choices"][0]["text"]
    assert edit["target"].lower() not in before.lower(), (edit, before)

    # -- metrics parse and agree with the edit log
    families = {f.name: f for f in text_string_to_metric_families(c.get("/metrics").text)}
    by_status = {s.labels["status"]: s.value for s in families["memoird_edits"].samples}
    assert by_status["reverted"] >= 1
    polls = {s.labels["result"]: s.value for s in families["memoird_polls"].samples
             if s.name == "memoird_polls_total"}
    assert polls.get("updated", 0) >= 1
    assert families["memoird_edit_seconds"].samples  # histogram present
    assert {s.labels["decision"] for s in families["memoird_routing_decisions"].samples} \
        == {"hit", "miss"}

    # -- SIGTERM: STOPPING=1, clean exit 0, every log line a JSON object
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(120) == 0, daemon.tail()
    messages = _notify_messages(daemon.notify)
    assert any(m.get("STOPPING") == "1" for m in messages), messages
    records = [json.loads(line) for line in daemon.log.read_text().splitlines() if line.strip()]
    assert any(r["msg"] == "stopped" for r in records)
    assert {"ts", "level", "logger", "msg"} <= set(records[0])
