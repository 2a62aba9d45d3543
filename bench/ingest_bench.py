"""Ingest benchmark: full poll passes over N loopback feeds into a real SQLite store.

The server (tests/feedserver.py, real HTTP with ETag/Last-Modified/gzip) runs in a child process
so the client's CPU time is measured alone. Feed i serves one of the shared real-world feeds
(../shared/data/feeds/, rotated); a "change" injects a new item, which changes the ETag.

Passes, all in one run so ratios are comparable on a shared machine:
  initial  every feed answers 200 and every article is new (first import)
  steady   a share of feeds changed (200, one new item, the rest already stored), the others 304
  only_304 half of the feeds, all answering 304
  only_200 the other half, all changed (200)
``cost_304_over_200`` = CPU per feed of only_304 / CPU per feed of only_200.

    .venv/bin/python bench/ingest_bench.py            # 1,000 feeds
    .venv/bin/python bench/ingest_bench.py --feeds 100 --out /tmp   # quick check
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import re
import resource
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from common import SHARED_DATA, Timer, write_results  # noqa: E402

# Well-formed feeds of every family; bozo ones would be just as fast but this keeps the mix readable.
FEED_FILES = [
    "miniflux-small_atom.xml", "HuffPostCanada.xml", "google_alerts_atom.xml", "miniflux-urdu_UTF8.xml",
    "miniflux-rdf_UTF8.xml", "json_feed.json", "miniflux-encoding_WINDOWS-1251.xml",
    "miniflux-encoding_ISO-8859-1.xml", "miniflux-large_rss.xml", "DuplicateContentAtomFeed.xml",
]


def _with_new_item(doc: bytes, name: str, feed: int, version: int) -> bytes:
    """The document with one extra item at the top (what a publisher's update looks like)."""
    if version == 0:
        return doc
    gid = f"bench-{feed}-{version}"
    text = f"Update {version} of feed {feed}: the committee confirmed the appointment on Monday."
    if name.endswith(".json"):
        data = json.loads(doc)
        data["items"].insert(0, {"id": gid, "url": f"http://bench.test/{gid}", "title": f"Update {version}",
                                 "content_text": text, "date_published": "2026-11-20T10:00:00Z"})
        return json.dumps(data).encode()
    m = re.search(rb"<(item|entry)[\s>]", doc)
    assert m, name
    if m.group(1) == b"entry":
        new = (f"<entry><id>{gid}</id><title>Update {version}</title><link href='http://bench.test/{gid}'/>"
               f"<updated>2026-11-20T10:00:00Z</updated><summary>{text}</summary></entry>")
    else:
        new = (f"<item><guid>{gid}</guid><title>Update {version}</title><link>http://bench.test/{gid}</link>"
               f"<description>{text}</description></item>")
    return doc[: m.start()] + new.encode() + doc[m.start():]


def _serve(n_feeds: int, port_out: mp.Queue, stop: mp.Event) -> None:
    """Child process: the loopback feed host."""
    from feedserver import CONTENT_TYPES, FeedServer

    raw = {name: (SHARED_DATA / "feeds" / name).read_bytes() for name in FEED_FILES}
    versions = [0] * n_feeds
    cache: dict[tuple[int, int], bytes] = {}
    lock = threading.Lock()
    mtime = time.time() - 3600

    def feed_route(i: int):
        name = FEED_FILES[i % len(FEED_FILES)]
        ctype = CONTENT_TYPES[Path(name).suffix]

        def route(h) -> None:
            with lock:
                key = (i, versions[i])
                if key not in cache:
                    cache[key] = _with_new_item(raw[name], name, i, versions[i])
                body = cache[key]
            h.send_conditional(body, mtime + versions[i], ctype)
        return route

    def bump(h) -> None:
        every = int(h.path.split("every=")[1])
        with lock:
            for i in range(0, n_feeds, every):
                versions[i] += 1
        h.reply(200, b"ok")

    def stats(h) -> None:
        u = resource.getrusage(resource.RUSAGE_SELF)
        h.reply(200, json.dumps({"cpu_s": u.ru_utime + u.ru_stime}).encode())

    srv = FeedServer()
    for i in range(n_feeds):
        srv.routes[f"/feed/{i}"] = feed_route(i)
    srv.routes["/_bump"] = bump
    srv.routes["/_stats"] = stats
    srv.start()
    port_out.put(srv.port)
    stop.wait()
    srv.stop()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:  # loopback control channel of our own server
        return r.read()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--changed-every", type=int, default=4, help="in the steady pass, 1 feed in N changed")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    args = ap.parse_args()

    from memoird.daemon.stages.poll import poll_due_feeds
    from memoird.extractors.fetch import Fetcher, FetchPolicy
    from memoird.extractors.politeness import Schedule
    from memoird.store import articles, feeds, open_db

    ctx = mp.get_context("fork")
    port_q, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(args.feeds, port_q, stop), daemon=True)
    server.start()
    port = port_q.get(timeout=60)
    base = f"http://127.0.0.1:{port}"
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp, \
                Fetcher(FetchPolicy(allow_networks=("127.0.0.0/8",), max_connections=args.concurrency + 4)) as fetcher:
            db = open_db(Path(tmp) / "memoird.db")
            for i in range(args.feeds):
                feeds.add_feed(db, f"{base}/feed/{i}")
            all_feeds = feeds.list_feeds(db)
            t0 = datetime.now(timezone.utc)
            schedule = Schedule()

            def run(name: str, subset, day: int) -> None:
                server_cpu = json.loads(_get(f"{base}/_stats"))["cpu_s"]
                # fresh Feed records: the previous pass stored new validators
                todo = [feeds.get_feed(db, f.id) for f in subset]
                with Timer() as t:
                    report = poll_due_feeds(db, fetcher, now=t0 + timedelta(days=day), only=todo, schedule=schedule,
                                        concurrency=args.concurrency)
                server_cpu = json.loads(_get(f"{base}/_stats"))["cpu_s"] - server_cpu
                failed = [o for o in report.outcomes if o.result not in ("updated", "not_modified")]
                if failed:
                    raise SystemExit(f"{name}: {len(failed)} feeds failed, first: {failed[0].error}")
                row = {
                    "pass": name, "feeds": len(todo),
                    "answers_200": report.count("updated"), "answers_304": report.count("not_modified"),
                    "new_articles": report.new_articles,
                    "wall_s": round(t.wall_s, 3), "cpu_s": round(t.cpu_s, 3),
                    "feeds_per_s": round(len(todo) / t.wall_s, 1),
                    "cpu_s_per_feed": round(t.cpu_s / len(todo), 5),
                    "feeds_per_cpu_s": round(len(todo) / t.cpu_s, 1),
                    "server_cpu_s": round(server_cpu, 3),
                    "concurrency": args.concurrency,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)

            run("initial", all_feeds, 1)
            _get(f"{base}/_bump?every={args.changed_every}")
            run("steady", all_feeds, 2)
            _get(f"{base}/_bump?every=2")  # even feeds change again; odd ones stay as they are
            run("only_304", all_feeds[1::2], 3)
            run("only_200", all_feeds[0::2], 3)
            total_articles = articles.count_articles(db)
            db.close()
    finally:
        stop.set()
        server.join(timeout=10)

    by = {r["pass"]: r for r in rows}
    cost = by["only_304"]["cpu_s_per_feed"] / by["only_200"]["cpu_s_per_feed"]
    cost_wall = (by["only_304"]["wall_s"] / by["only_304"]["feeds"]) / (by["only_200"]["wall_s"] / by["only_200"]["feeds"])
    for r in rows:
        r["cost_304_over_200"] = round(cost, 4)
        r["cost_304_over_200_wall"] = round(cost_wall, 4)
    path = write_results("ingest_bench", rows, out_dir=args.out, extra_meta={
        "feed_files": FEED_FILES, "articles_stored": total_articles,
        "note": "client CPU only (server in a child process); wall time shares the machine with the server",
    })
    steady = by["steady"]
    print(f"steady pass: {steady['feeds_per_s']} feeds/s, {steady['cpu_s_per_feed'] * 1000:.2f} ms CPU/feed; "
          f"304 costs {cost:.1%} of a 200 (CPU), {cost_wall:.1%} (wall) -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
