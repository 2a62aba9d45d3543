"""API load benchmark: concurrent completion clients, and the edit-log page with 10,000 edits.

Starts the real daemon (``memoird run``) as a subprocess on loopback with the embedded
model, over a data directory whose edit log holds ``--edits`` complete edit chains
(feed -> article -> fact -> probe -> claim -> edit), then:

1. one client sends completions back to back for ``--single-seconds``: the baseline;
2. ``--clients`` clients do the same at once for ``--duration`` seconds;
3. the edit-log page (``GET /api/edits``, 50 rows, several filters) is fetched repeatedly
   and its server time read from the ``Server-Timing`` header.

Rows (bench/results/api_bench.json): one ``kind="completions"`` row with ``clients``,
``duration_s``, ``requests``, ``errors``, ``p50_ratio``, ``p95_ratio`` (latency under
load over the single client's, measured in the same run) and the raw latencies; one
``kind="edit_log"`` row per filter with the server time percentiles.

    .venv/bin/python bench/api_bench.py                       # the full run (~5 min + setup)
    .venv/bin/python bench/api_bench.py --clients 8 --duration 10 --single-seconds 5 --edits 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, write_results  # noqa: E402

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


def start_daemon(data_dir: Path, model: Path, port: int) -> subprocess.Popen:
    config = data_dir / "memoird.toml"
    config.write_text(f"""
[daemon]
data_dir = "{data_dir}"
log_level = "warning"
[model]
base = "{model}"
device = "cpu"
[policy]
mode = "manual"
[api]
host = "127.0.0.1"
port = {port}
""")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
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
    args = parser.parse_args()

    args.data_dir.mkdir(parents=True, exist_ok=True)
    model = model_dir(REPO / ".cache" / "test-data")
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
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()

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
        "daemon_exit_code": code,
    }
    path = write_results("api_bench", [completions, *pages],
                         extra_meta={"edits": args.edits, "ready_s": round(ready_s, 1),
                                     "seed_s": round(seed_s, 1),
                                     "load_note": f"loadavg at end {os.getloadavg()[0]:.1f}"})
    print(f"completions: p50 ratio {completions['p50_ratio']}, p95 ratio "
          f"{completions['p95_ratio']}, {completions['errors']} errors, "
          f"throughput x{completions['throughput_ratio']}")
    for row in pages:
        print(f"edit log [{row['filter']}]: server p50 {row['server_ms_p50']} ms, "
              f"p95 {row['server_ms_p95']} ms (total {row['total']})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
