"""API load benchmark: concurrent completion clients, completions while the daemon reads
the news, SIGTERM-to-exit times, and the edit-log page with 10,000 edits.

Starts the real daemon (``memoird run``) as a subprocess on loopback with the embedded
model, over a data directory whose edit log holds ``--edits`` complete edit chains
(feed -> article -> fact -> probe -> claim -> edit), then:

1. one client sends completions back to back for ``--single-seconds``: the baseline;
2. ``--clients`` clients do the same at once for ``--duration`` seconds;
3. the edit-log page (``GET /api/edits``, 50 rows, several filters) is fetched repeatedly
   and its server time read from the ``Server-Timing`` header.

Then, on fresh data directories, a poll pass over the first ``--extract-items`` items of
the news dev set (bench/news_dev/dev.json, served as RSS on loopback the way
bench/news_bench.py serves it; policy ``manual``, so the background work is poll,
extract, probe and decide):

4. daemon A reads the articles with no request: the idle extraction throughput; then a
   second batch of articles is added and the daemon is stopped with SIGTERM while it
   extracts them;
5. daemon B answers one 12-token greedy completion per second while idle, then while it
   reads the same articles: latency while extracting over idle latency, and extraction
   throughput while serving over daemon A's; then an edit is approved and the daemon is
   stopped with SIGTERM while it trains it;
6. daemon B again: once the edit is applied, a distillation is asked for
   (``POST /api/distill``) and SIGTERM sent while it trains (its first epoch saved).

Rows (bench/results/api_bench.json): ``kind="completions"`` rows with ``clients``,
``duration_s``, ``requests``, ``errors``, ``p50_ratio``, ``p95_ratio`` (latency under
load over the reference's, measured in the same run), ``throughput_ratio`` and
``background`` (None: nothing else ran; "extract": a poll pass was reading articles);
``kind="sigterm"`` rows with ``stage`` and ``exit_s`` (signal to process exit) and
``clean`` (every stage ended at a pause point, nothing abandoned); one ``kind="edit_log"``
row per filter with the server time percentiles.

    .venv/bin/python bench/api_bench.py                       # the full run (~15 min + setup)
    .venv/bin/python bench/api_bench.py --clients 8 --duration 10 --single-seconds 5 \
        --edits 500 --extract-items 6 --idle-requests 10
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.server
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, write_results  # noqa: E402
from news_bench import DATA as NEWS_DATA  # noqa: E402
from news_bench import _Quiet, write_feeds  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
PROMPTS = (
    "The capital of France is",
    "Lionel Messi plays for",
    "The official currency of Croatia is",
    "The chief executive of Microsoft is",
    "Water boils at a temperature of",
    "The largest planet in the solar system is",
)
PAGE_FILTERS = {
    "newest page": {},
    "status=pending": {"status": "pending"},
    "status=reverted, page 20": {"status": "reverted", "offset": 1000},
    "subject contains": {"subject": "player 77"},
    "relation + since": {"relation": "P54", "since": "2026-01-01T00:00:00+00:00"},
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def model_dir(cache: Path) -> Path:
    """The embedded model as a safetensors folder, converted once (shared with the tests)."""
    from memoird.editor.model import convert_builtin

    return convert_builtin("smollm2-135m-instruct", cache)


def seed(data_dir: Path, edits: int) -> float:
    """Fill the edit log up to ``edits`` edits; returns seconds spent (0 when reused)."""
    from memoird.store import open_db
    from memoird.store.db import write_transaction
    from service_support import seed_edit

    db = open_db(data_dir / "memoird.db")
    have = db["edits"].count
    started = time.perf_counter()
    # no "approved" edits: the daemon's apply stage would train them during the run; its
    # start-up reconciliation logs the seeded "applied" ones (not in its memory) as reverted
    statuses = ("pending", "applied", "rejected", "reverted", "failed", "pending")
    for start in range(have, edits, 500):
        with write_transaction(db):
            for i in range(start, min(edits, start + 500)):
                day = 1 + i % 28
                seed_edit(db, i, statuses[i % len(statuses)],
                          created_at=f"2026-{1 + (i // 28) % 12:02d}-{day:02d}T12:00:00+00:00")
    db.close()
    return time.perf_counter() - started if edits > have else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TOKEN = "api-bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def start_daemon(data_dir: Path, model: Path, port: int, extra: str = "",
                 log_level: str = "warning") -> subprocess.Popen:
    config = data_dir / "memoird.toml"
    config.write_text(f"""
[daemon]
data_dir = "{data_dir}"
log_level = "{log_level}"
log_format = "json"
[model]
base = "{model}"
device = "cpu"
[policy]
mode = "manual"
[feeds]
allow_networks = ["127.0.0.0/8"]
[api]
host = "127.0.0.1"
port = {port}
{extra}""")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", MEMOIRD_API_TOKEN=TOKEN)
    return subprocess.Popen([str(Path(sys.executable).with_name("memoird")), "-c", str(config),
                             "run"], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(data_dir / "daemon.log", "ab"))


def wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the daemon was not ready after {timeout:.0f} s")


async def client_loop(client: httpx.AsyncClient, n: int, deadline: float, max_tokens: int,
                      latencies: list[float], errors: list[str]) -> None:
    i = n
    while time.monotonic() < deadline:
        prompt = PROMPTS[i % len(PROMPTS)]
        i += 1
        started = time.perf_counter()
        try:
            response = await client.post("/v1/completions", json={
                "prompt": prompt, "max_tokens": max_tokens, "temperature": 0})
            response.raise_for_status()
            if not response.json()["choices"][0]["text"]:
                raise ValueError("empty completion")
        except Exception as exc:  # counted, the run goes on
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        latencies.append(time.perf_counter() - started)


async def load(url: str, clients: int, seconds: float, max_tokens: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        await asyncio.gather(*(client_loop(client, n, deadline, max_tokens, latencies, errors)
                               for n in range(clients)))
        wall = time.monotonic() - started
    return {"latencies": latencies, "errors": errors, "wall_s": wall}


def edit_log_rows(url: str, repeats: int, edits: int) -> list[dict]:
    rows = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for name, params in PAGE_FILTERS.items():
            server_ms, wall_ms = [], []
            total = None
            for _ in range(repeats):
                started = time.perf_counter()
                response = client.get("/api/edits", params={"limit": 50, **params})
                wall_ms.append((time.perf_counter() - started) * 1e3)
                response.raise_for_status()
                total = response.json()["total"]
                server_ms.append(float(response.headers["server-timing"].split("dur=")[1]))
            detail = client.get("/api/edits/1")
            rows.append({"kind": "edit_log", "edits": edits, "filter": name, "total": total,
                         "requests": repeats, "server_ms_p50": round(percentile(server_ms, .5), 2),
                         "server_ms_p95": round(percentile(server_ms, .95), 2),
                         "server_ms_max": round(max(server_ms), 2),
                         "wall_ms_p50": round(percentile(wall_ms, .5), 2),
                         "under_200ms": percentile(server_ms, .95) < 200,
                         "detail_server_ms": float(detail.headers["server-timing"].split("dur=")[1])})
    return rows


# -- completions while the daemon reads the news, and SIGTERM -----------------------------------

class FeedSite:
    """The news dev set's items as RSS files (one per outlet) on a loopback HTTP server, in
    numbered folders so each batch of items is a set of new feeds."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="api-bench-feeds-"))
        self.dataset = json.loads((NEWS_DATA / "dev.json").read_text(encoding="utf-8"))
        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(self.root)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def batch(self, name: str, items: slice) -> tuple[list[str], int]:
        """Feed URLs of the items in ``items`` and how many articles they hold."""
        chosen = self.dataset["items"][items]
        folder = self.root / name
        folder.mkdir()
        files = write_feeds({**self.dataset, "items": chosen}, folder)
        base = f"http://127.0.0.1:{self.server.server_address[1]}/{name}"
        return [f"{base}/{f}" for f in files], sum(len(i["articles"]) for i in chosen)

    def close(self) -> None:
        self.server.shutdown()
        shutil.rmtree(self.root, ignore_errors=True)


def query(data_dir: Path, sql: str) -> list[tuple]:
    """Rows from the daemon's database, read-only (WAL: the daemon keeps writing)."""
    db = sqlite3.connect(f"file:{data_dir / 'memoird.db'}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def article_counts(data_dir: Path) -> dict[str, int]:
    return dict(query(data_dir, "SELECT status, COUNT(*) FROM articles GROUP BY status"))


def new_facts(data_dir: Path) -> int:
    return query(data_dir, "SELECT COUNT(*) FROM facts WHERE status = 'new'")[0][0]


def add_feeds(url: str, feeds: list[str]) -> None:
    """Add feeds through the API (each wakes the poll)."""
    with httpx.Client(base_url=url, timeout=60, headers=AUTH) as client:
        for feed in feeds:
            client.post("/api/feeds", json={"url": feed, "trust": 0.8}).raise_for_status()


def wait_extracted(data_dir: Path, articles: int, proc: subprocess.Popen,
                   timeout: float) -> float:
    """Wait until ``articles`` articles have left status new; returns the seconds during
    which some article waited to be read (the reading's busy time: the feeds' polls may
    come in several passes, and the time between them is not the reading's)."""
    started = last = time.monotonic()
    backlog = 0.0
    while last - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode} while extracting")
        counts = article_counts(data_dir)
        now = time.monotonic()
        if counts.get("new"):
            backlog += now - last
        elif sum(counts.values()) >= articles:
            return backlog
        last = now
        time.sleep(0.25)
    raise SystemExit(f"{articles} articles not extracted after {timeout:.0f} s: {counts}")


def reading_rate(url: str) -> tuple[int, float]:
    """Articles the extract stage has read and the seconds its runs took, from /metrics:
    the reading's own busy time, whatever else (polls, probes) ran between its runs."""
    text = httpx.get(f"{url}/metrics", headers=AUTH, timeout=30).text
    items = seconds = 0.0
    for line in text.splitlines():
        if line.startswith('memoird_stage_items_total{stage="extract"}'):
            items = float(line.split()[-1])
        elif line.startswith('memoird_stage_seconds_sum{stage="extract"}'):
            seconds = float(line.split()[-1])
    return int(items), seconds


def paced_requests(url: str, every_s: float, count: int | None = None, until=None,
                   max_tokens: int = 12) -> dict:
    """One completion every ``every_s`` seconds (the next one at once when a request took
    longer), ``count`` of them or until ``until()``; latencies of the answered ones."""
    latencies, errors = [], []
    with httpx.Client(base_url=url, timeout=300) as client:
        started = time.monotonic()
        n = 0
        while (n < count) if count is not None else not until():
            request_at = started + n * every_s
            time.sleep(max(0.0, request_at - time.monotonic()))
            begin = time.perf_counter()
            try:
                response = client.post("/v1/completions", json={
                    "prompt": PROMPTS[n % len(PROMPTS)], "max_tokens": max_tokens,
                    "temperature": 0})
                response.raise_for_status()
                latencies.append(time.perf_counter() - begin)
            except Exception as exc:  # counted, the run goes on
                errors.append(f"{type(exc).__name__}: {exc}")
            n += 1
        wall = time.monotonic() - started
    return {"latencies": latencies, "errors": errors, "wall_s": wall}


def terminate(proc: subprocess.Popen) -> tuple[int, float]:
    """SIGTERM (SIGKILL after 120 s); the exit code and the seconds the process took."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    return code, time.monotonic() - sent


def sigterm(proc: subprocess.Popen, log: Path) -> dict:
    """SIGTERM now; seconds until the process is gone, and whether it stopped cleanly
    (its last "stopped" log line: nothing abandoned)."""
    code, exit_s = terminate(proc)
    clean = None
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("msg") == "stopped":
            clean = record.get("clean")
    return {"exit_s": round(exit_s, 2), "exit_code": code, "clean": clean}


def wait_for(what: str, predicate, timeout: float, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def job_running(url: str, job: str) -> bool:
    try:
        status = httpx.get(f"{url}/api/status", timeout=10).json()
    except httpx.HTTPError:
        return False
    return bool(((status.get("scheduler") or {}).get("jobs") or {}).get(job, {}).get("running"))


def fresh_daemon(root: Path, name: str, model: Path, ready_timeout: float, extra: str = ""
                 ) -> tuple[Path, str, subprocess.Popen]:
    data_dir = root / name
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    return (data_dir, *restart_daemon(data_dir, model, ready_timeout, extra))


def restart_daemon(data_dir: Path, model: Path, ready_timeout: float, extra: str = ""
                   ) -> tuple[str, subprocess.Popen]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_daemon(data_dir, model, port, extra, log_level="info")
    wait_ready(url, proc, ready_timeout)
    return url, proc


def background_rows(args, model: Path) -> list[dict]:
    """Rows 4-6 of the module docstring."""
    root = args.data_dir / "background"
    site = FeedSite()
    n = args.extract_items
    feeds_a, articles = site.batch("a", slice(0, n))
    feeds_b, more = site.batch("b", slice(n, 2 * n))
    rows = []
    procs: list[subprocess.Popen] = []
    try:
        # daemon A: extraction alone, then SIGTERM while it extracts the second batch
        dir_a, url_a, proc = fresh_daemon(root, "a", model, args.ready_timeout)
        procs.append(proc)
        time.sleep(5)  # the start's first poll pass is over, as in daemon B below
        add_feeds(url_a, feeds_a)
        idle_extract_s = wait_extracted(dir_a, articles, proc, 3600)
        read_alone, read_s_alone = reading_rate(url_a)
        print(f"extraction alone: {read_alone} articles in {read_s_alone:.0f} s of reading "
              f"({idle_extract_s:.0f} s with articles waiting)", flush=True)
        add_feeds(url_a, feeds_b)
        wait_for("the second batch's extraction", lambda: article_counts(dir_a).get("new", 0)
                 and job_running(url_a, "extract"), 600)
        time.sleep(args.stop_after)
        rows.append({"kind": "sigterm", "stage": "extract",
                     **sigterm(proc, dir_a / "daemon.log")})
        print(f"SIGTERM while extracting: {rows[-1]}", flush=True)

        # daemon B: latency idle, then while extracting the same articles at 1 request/s
        dir_b, url_b, proc = fresh_daemon(root, "b", model, args.ready_timeout)
        procs.append(proc)
        paced_requests(url_b, args.every, count=2)  # warm-up
        idle = paced_requests(url_b, args.every, count=args.idle_requests)
        done = threading.Event()
        finished: list[float] = []

        def extraction() -> None:
            try:
                finished.append(wait_extracted(dir_b, articles, proc, 3600))
            finally:
                done.set()

        add_feeds(url_b, feeds_a)
        watcher = threading.Thread(target=extraction, daemon=True)
        watcher.start()
        busy = paced_requests(url_b, args.every, until=done.is_set)
        watcher.join()
        if not finished:
            raise SystemExit("daemon B never finished extracting")
        busy_extract_s = finished[0]
        read_serving, read_s_serving = reading_rate(url_b)
        i50, i95 = percentile(idle["latencies"], .5), percentile(idle["latencies"], .95)
        b50, b95 = percentile(busy["latencies"], .5), percentile(busy["latencies"], .95)
        rows.append({
            "kind": "completions", "clients": 1, "duration_s": round(busy["wall_s"], 1),
            "requests": len(busy["latencies"]), "errors": len(busy["errors"]),
            "p50_ratio": round(b50 / i50, 2), "p95_ratio": round(b95 / i95, 2),
            "throughput_ratio": round((read_serving / read_s_serving)
                                      / (read_alone / read_s_alone), 2),
            "background": "extract", "request_every_s": args.every, "max_tokens": 12,
            "idle_requests": len(idle["latencies"]), "idle_p50_s": round(i50, 3),
            "idle_p95_s": round(i95, 3), "p50_s": round(b50, 3), "p95_s": round(b95, 3),
            "max_s": round(max(busy["latencies"]), 3), "articles": articles,
            "read_alone": read_alone, "read_s_alone": round(read_s_alone, 1),
            "read_serving": read_serving, "read_s_serving": round(read_s_serving, 1),
            "waiting_s_alone": round(idle_extract_s, 1),
            "waiting_s_serving": round(busy_extract_s, 1),
            "throughput_note": "articles per second of the extract stage's runs "
                               "(memoird_stage_items / memoird_stage_seconds) while serving "
                               "1 request/s, over the same with no request (daemon A)",
            "error_examples": sorted(set(busy["errors"] + idle["errors"]))[:5]})
        print(f"while extracting: p50 x{rows[-1]['p50_ratio']}, p95 x{rows[-1]['p95_ratio']}, "
              f"extraction throughput x{rows[-1]['throughput_ratio']}", flush=True)

        # an edit approved after the probe queue drained: SIGTERM while it trains
        wait_for("the probe queue to drain", lambda: new_facts(dir_b) == 0, 1800, every=0.5)
        edit = approve_edit(url_b, dir_b)
        wait_for("the edit's training", lambda: job_running(url_b, "apply"), 120)
        time.sleep(args.stop_after)
        rows.append({"kind": "sigterm", "stage": "edit", **sigterm(proc, dir_b / "daemon.log")})
        print(f"SIGTERM while editing: {rows[-1]}", flush=True)

        # daemon B again: the approved edit is applied at start, then distilled on demand;
        # SIGTERM once the first epoch's state is saved (training steps are running)
        url_b, proc = restart_daemon(dir_b, model, args.ready_timeout, DISTILL_ON_DEMAND)
        procs.append(proc)
        wait_for("the edit applied", lambda: edit_status(dir_b, edit) == "applied", 600,
                 every=0.5)
        httpx.post(f"{url_b}/api/distill", headers=AUTH, timeout=60).raise_for_status()
        run = dir_b / "runs" / "distill-from-1"
        wait_for("distillation training", lambda: (run / "train-state.pt").exists(), 900,
                 every=0.02)
        rows.append({"kind": "sigterm", "stage": "distill",
                     **sigterm(proc, dir_b / "daemon.log")})
        print(f"SIGTERM while distilling: {rows[-1]}", flush=True)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        site.close()
    return rows


DISTILL_ON_DEMAND = """[distill]
schedule = "0 0 1 1 *"
min_edits = 1
"""


def edit_status(data_dir: Path, edit_id: int) -> str | None:
    rows = query(data_dir, f"SELECT status FROM edits WHERE id = {int(edit_id)}")
    return rows[0][0] if rows else None


def approve_edit(url: str, data_dir: Path) -> int:
    """A pending edit created in the log, approved through the API (which wakes apply)."""
    from memoird.store import edits, open_db

    db = open_db(data_dir / "memoird.db")
    try:
        edit = edits.create_edit(db, subject="Indonesia", relation="P36",
                                 prompt="The capital of Indonesia is", target="Nusantara",
                                 actor="api-bench", reason="SIGTERM during an edit")
    finally:
        db.close()
    httpx.post(f"{url}/api/edits/{edit.id}/approve", headers=AUTH, timeout=60).raise_for_status()
    return edit.id


def wait_quiet(max_wait_s: float, every_s: float = 30.0, below: float = 1.0) -> dict:
    """Wait until the 1-minute load is below ``below`` (checked every ``every_s``, at most
    ``max_wait_s``); what the load was when measuring starts."""
    started = time.monotonic()
    while os.getloadavg()[0] >= below and time.monotonic() - started < max_wait_s:
        time.sleep(every_s)
    load = os.getloadavg()[0]
    return {"load_1m_at_start": round(load, 2), "quiet": load < below,
            "waited_s": round(time.monotonic() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds under load")
    parser.add_argument("--single-seconds", type=float, default=20.0,
                        help="seconds of the single-client baseline")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--edits", type=int, default=10_000)
    parser.add_argument("--page-repeats", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".cache" / "api-bench",
                        help="reused between runs: the model's background and the seeded log")
    parser.add_argument("--ready-timeout", type=float, default=1800.0)
    parser.add_argument("--extract-items", type=int, default=16,
                        help="news dev items per poll pass (about 1.7 articles each)")
    parser.add_argument("--idle-requests", type=int, default=30,
                        help="paced requests of the idle reference")
    parser.add_argument("--every", type=float, default=1.0,
                        help="seconds between paced requests")
    parser.add_argument("--stop-after", type=float, default=1.0,
                        help="seconds into a stage before SIGTERM")
    parser.add_argument("--quiet-wait", type=float, default=1200.0,
                        help="wait up to this long for a 1-minute load below 1.0 (0: no wait)")
    parser.add_argument("--only", choices=("load", "background"),
                        help="only the concurrent clients and edit log, or only rows 4-6")
    args = parser.parse_args()

    args.data_dir.mkdir(parents=True, exist_ok=True)
    model = model_dir(REPO / ".cache" / "test-data")
    quiet = wait_quiet(args.quiet_wait) if args.quiet_wait else {
        "load_1m_at_start": round(os.getloadavg()[0], 2)}
    print(f"measuring at load {quiet}", flush=True)
    rows = []
    extra_meta: dict = {"quiet_wait": quiet}
    if args.only != "background":
        rows += load_rows(args, model, extra_meta)
    if args.only != "load":
        started_load = os.getloadavg()[0]
        rows += [{**row, "load_1m_start": round(started_load, 2),
                  "load_1m_end": round(os.getloadavg()[0], 2)}
                 for row in background_rows(args, model)]
    extra_meta["load_note"] = f"loadavg at end {os.getloadavg()[0]:.1f}"
    if args.only:  # keep the other part's rows from the last run
        kept, old_meta = previous_rows(lambda row: is_background(row) == (args.only == "load"))
        rows = kept + rows
        extra_meta["kept_from"] = {k: old_meta.get(k) for k in ("commit", "date", "load_avg_1m")}
    path = write_results("api_bench", rows, extra_meta=extra_meta)
    for row in rows:
        if row["kind"] == "completions":
            print(f"completions ({row['clients']} clients, background {row['background']}): "
                  f"p50 ratio {row['p50_ratio']}, p95 ratio {row['p95_ratio']}, "
                  f"{row['errors']} errors, throughput x{row['throughput_ratio']}")
        elif row["kind"] == "sigterm":
            print(f"SIGTERM during {row['stage']}: exit in {row['exit_s']} s, clean {row['clean']}")
        else:
            print(f"edit log [{row['filter']}]: server p50 {row['server_ms_p50']} ms, "
                  f"p95 {row['server_ms_p95']} ms (total {row['total']})")
    print(f"wrote {path}")


def is_background(row: dict) -> bool:
    """A row of rows 4-6 (completions beside background work, SIGTERM)."""
    return row["kind"] == "sigterm" or (row["kind"] == "completions"
                                        and row.get("background") is not None)


def previous_rows(keep) -> tuple[list[dict], dict]:
    """The rows of bench/results/api_bench.json that ``keep(row)`` accepts, and its meta."""
    path = REPO / "bench" / "results" / "api_bench.json"
    if not path.exists():
        return [], {}
    data = json.loads(path.read_text())
    return [row for row in data["rows"] if keep(row)], data.get("meta", {})


def load_rows(args, model: Path, extra_meta: dict) -> list[dict]:
    """Rows 1-3 of the module docstring: concurrent clients and the edit-log page."""
    started_load = os.getloadavg()[0]
    seed_s = seed(args.data_dir, args.edits)
    print(f"edit log: {args.edits} edits ({seed_s:.0f} s seeding)", flush=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_daemon(args.data_dir, model, port)
    try:
        ready_s = wait_ready(url, proc, args.ready_timeout)
        print(f"daemon ready in {ready_s:.0f} s", flush=True)
        asyncio.run(load(url, 1, min(5.0, args.single_seconds), args.max_tokens))  # warm-up
        single = asyncio.run(load(url, 1, args.single_seconds, args.max_tokens))
        print(f"single client: {len(single['latencies'])} requests", flush=True)
        many = asyncio.run(load(url, args.clients, args.duration, args.max_tokens))
        print(f"{args.clients} clients: {len(many['latencies'])} requests, "
              f"{len(many['errors'])} errors", flush=True)
        pages = edit_log_rows(url, args.page_repeats, args.edits)
    finally:
        code, _ = terminate(proc)

    s_lat, m_lat = single["latencies"], many["latencies"]
    s50, s95 = percentile(s_lat, .5), percentile(s_lat, .95)
    m50, m95 = percentile(m_lat, .5), percentile(m_lat, .95)
    completions = {
        "kind": "completions", "clients": args.clients, "duration_s": round(many["wall_s"], 1),
        "requests": len(m_lat), "errors": len(many["errors"]),
        "error_examples": sorted(set(many["errors"]))[:5],
        "p50_ratio": round(m50 / s50, 2), "p95_ratio": round(m95 / s95, 2),
        "single_p50_s": round(s50, 3), "single_p95_s": round(s95, 3),
        "single_requests": len(s_lat), "single_rps": round(len(s_lat) / single["wall_s"], 2),
        "p50_s": round(m50, 3), "p95_s": round(m95, 3),
        "rps": round(len(m_lat) / many["wall_s"], 2),
        "throughput_ratio": round((len(m_lat) / many["wall_s"]) /
                                  (len(s_lat) / single["wall_s"]), 2),
        "max_tokens": args.max_tokens, "mean_s": round(statistics.fmean(m_lat), 3) if m_lat else None,
        "background": None, "daemon_exit_code": code,
        "load_1m_start": round(started_load, 2), "load_1m_end": round(os.getloadavg()[0], 2),
    }
    extra_meta.update(edits=args.edits, ready_s=round(ready_s, 1), seed_s=round(seed_s, 1))
    return [completions, *pages]


if __name__ == "__main__":
    main()
