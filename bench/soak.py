"""Kill soak: the real daemon on loopback news feeds, SIGKILLed at random instants, restarted.

    python bench/soak.py                          # 50 kills, every item of bench/news_dev/dev.json
    python bench/soak.py --kills 5 --items uk-pm-2024,japan-pm-2025

`memoird run` runs as a subprocess on a temporary data directory with the embedded model.
Its feeds are RSS documents served on 127.0.0.1, one per outlet of the dataset; articles
appear in them a few at a time (one batch before each restart) and every response is
delayed a little, so a poll takes long enough to be interrupted. Each kill targets a stage,
in turn: ``poll``, ``extract``, ``apply``, ``revert`` and ``distill`` (skipping one that has
no work yet). The soak waits until ``/api/status`` shows the stage's job running (for
``revert`` it sends ``POST /api/edits/ID/revert`` itself; for ``distill`` the daemon is
started with a one-minute cron slot), waits a random part of a stage's usual length, and
sends SIGKILL; half of the apply and revert kills come instead the moment the memory file
commits the change, just before the edit log is written. What was running
at that instant (every scheduler job ``/api/status`` reported, a feed request in flight, an
unanswered revert) is recorded as the stages hit. After a kill during distillation the
previous checkpoint must still be active, unless the switch had committed.

After the last kill every article is released; one start lets a distillation run to its
end (resuming what the killed ones left) and stops cleanly; the last start runs until the
queues are empty and the store has stopped changing, and is stopped with SIGTERM. Then:

- ``integrity_ok``: ``PRAGMA integrity_check`` is ok on every SQLite file of the data
  directory and every memory file loads;
- ``half_applied``: edits the memory file holds that the log does not call ``applied``,
  edits it holds twice, and edits the log calls ``applied`` that were never verified
  (trained, then logged by recovery without the apply stage's checks);
- ``lost_edits``: edits the log calls ``applied`` that the active memory does not hold or
  that do not answer their prompt (greedy answer through the live engine, matched the way
  the apply stage's verifier matches), and ``distilled`` edits the active weights do not
  answer;
- ``duplicate_articles``: articles stored more than once, or whose facts were stored
  twice (extracted twice); ``duplicate_probes`` (a fact probed twice) and
  ``duplicate_edits`` (a claim turned into two live edits) are counted beside them, and
  ``half_done`` (a probed fact that supports no claim, an open claim with a live edit);
- ``lost_articles``: articles of the feeds missing from the store or left without a final
  status.

Writes ``bench/results/soak.json`` (one row, with every kill's target and the stages it
hit); exit status 0 when every count is 0 and the integrity check passed, 1 otherwise, 2
when the soak could not run. The work folder (data directory, one log per daemon run) is
kept when a check fails. Distillation runs with a loose gate, so that candidates are
activated and kills land in the checkpoint switch too. On a shared machine run it with
``nice -n 19 env OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import functools
import html
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, write_results  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from feedserver import FeedServer  # noqa: E402  (the tests' loopback feed host)

DATASET = REPO / "bench" / "news_dev" / "dev.json"
MODEL = "smollm2-135m-instruct"
TARGETS = ("poll", "extract", "apply", "revert", "distill")
#: scheduler job -> the stage it runs
JOB_STAGES = {"tick": "poll", "extract": "extract", "probe": "probe", "decide": "decide",
              "apply": "apply", "distill": "distill"}
#: the longest wait (seconds) after a targeted stage is seen running before the kill; the
#: kill comes earlier when the stage ends first
KILL_WITHIN = {"poll": 1.5, "extract": 4.0, "apply": 14.0, "revert": 0.06, "distill": 75.0}
#: the longest wait for an apply's or a revert's memory commit (a kill at that instant)
COMMIT_WAIT_S = 60.0
#: articles with one of these statuses are done with (new is still queued)
FINAL_ARTICLE_STATUSES = ("extracted", "failed", "skipped")


class SoakError(RuntimeError):
    """The soak could not run (the daemon did not start, a timeout...): the message says."""


@dataclass
class SoakOptions:
    kills: int = 50
    items: tuple[str, ...] = ()  # dataset item ids; empty: every item
    dataset: Path = DATASET
    seed: int = 17
    targets: tuple[str, ...] = TARGETS
    model_dir: Path | None = None  # a converted model folder; None: convert the built-in once
    work_dir: Path | None = None  # None: a temporary folder, removed unless keep or failure
    keep: bool = False
    feed_delay_s: tuple[float, float] = (0.3, 1.5)
    ready_timeout_s: float = 300.0
    stage_timeout_s: float = 60.0  # waiting for a targeted stage to start
    idle_timeout_s: float = 1800.0  # the final run to idle
    distill_timeout_s: float = 900.0  # the final distillation, cron wait included
    final_distill: bool = True  # let one distillation finish before the final run
    quiet_s: float = 12.0  # the store unchanged this long, no job running: idle
    progress: Callable[[str], None] = functools.partial(print, flush=True)


# ---------------------------------------------------------------------------- feeds


@dataclass(frozen=True)
class Article:
    outlet: str
    domain: str
    item_id: str
    n: int
    title: str
    text: str
    published: str

    @property
    def guid(self) -> str:
        return f"https://{self.domain}/news/{self.item_id}-{self.n}"

    def rss_item(self) -> str:
        when = datetime.fromisoformat(self.published.replace("Z", "+00:00"))
        body = "".join(f"<p>{html.escape(p.strip())}</p>"
                       for p in self.text.split("\n\n") if p.strip())
        return (f"<item><title>{html.escape(self.title)}</title><link>{self.guid}</link>"
                f"<guid>{self.guid}</guid><pubDate>{format_datetime(when)}</pubDate>"
                f"<description>{html.escape(body)}</description></item>")


def load_articles(dataset: Path, items: tuple[str, ...] = ()) -> list[Article]:
    """The dataset's articles (of ``items`` only, when given), in dataset order."""
    data = json.loads(Path(dataset).read_text(encoding="utf-8"))
    domains = {o["name"]: o["domain"] for o in data["outlets"]}
    known = [i["id"] for i in data["items"]]
    unknown = [i for i in items if i not in known]
    if unknown:
        raise SoakError(f"items {unknown} are not in {dataset}")
    chosen = [i for i in data["items"] if not items or i["id"] in items]
    return [Article(a["outlet"], domains[a["outlet"]], item["id"], n, a["title"], a["text"],
                    a["published"])
            for item in chosen for n, a in enumerate(item["articles"])]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class NewsFeeds:
    """One RSS feed per outlet on a loopback FeedServer. An article is in its outlet's feed
    once released; every response comes after a random delay, and ``busy`` counts the
    requests being answered (a poll in progress)."""

    def __init__(self, articles: list[Article], delay_s: tuple[float, float], seed: int):
        self.articles = articles
        self.delay_s = delay_s
        self.rng = random.Random(seed)
        self.released: list[Article] = []
        self.changed_at: dict[str, float] = {}
        self.busy = 0
        self.lock = threading.Lock()
        self.server = FeedServer()
        for outlet in sorted({a.outlet for a in articles}):
            self.server.routes[f"/{slug(outlet)}.xml"] = self._route(outlet)
            self.changed_at[outlet] = time.time()

    def __enter__(self) -> NewsFeeds:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def urls(self) -> list[str]:
        return [self.server.url(path) for path in sorted(self.server.routes)]

    def release(self, articles: list[Article]) -> None:
        with self.lock:
            for a in articles:
                if a not in self.released:
                    self.released.append(a)
                    self.changed_at[a.outlet] = time.time()

    def document(self, outlet: str) -> tuple[bytes, float]:
        with self.lock:
            items = [a for a in self.released if a.outlet == outlet]
            mtime = self.changed_at[outlet]
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
               f"<title>{html.escape(outlet)}</title><link>https://{items[0].domain if items else 'example.org'}/</link>"
               f"<description>news</description>{''.join(a.rss_item() for a in reversed(items))}"
               f"</channel></rss>")
        return xml.encode("utf-8"), mtime

    def _route(self, outlet: str):
        def route(handler) -> None:
            with self.lock:
                self.busy += 1
                delay = self.rng.uniform(*self.delay_s)
            try:
                time.sleep(delay)
                data, mtime = self.document(outlet)
                handler.send_conditional(data, mtime, "application/rss+xml")
            finally:
                with self.lock:
                    self.busy -= 1
        return route


# ---------------------------------------------------------------------------- the daemon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One `memoird run` process: started, asked over HTTP, killed or stopped."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = dict(env)
        self.log_path = log_path
        self.port = free_port()
        self.env["MEMOIRD_API_PORT"] = str(self.port)
        self.token = self.env["MEMOIRD_API_TOKEN"]
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "memoird.daemon.cli", "run"],
                                     env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def request(self, path: str, method: str = "GET", timeout: float = 2.0) -> tuple[int, Any]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     headers={"Authorization": f"Bearer {self.token}"},
                                     data=b"{}" if method == "POST" else None)
        if method == "POST":
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def status(self) -> dict | None:
        """``/api/status``, or None when the daemon does not answer (starting, busy)."""
        try:
            code, body = self.request("/api/status", timeout=2.0)
        except (OSError, ValueError):
            return None
        return body if code == 200 and isinstance(body, dict) else None

    def wait_ready(self, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive():
                raise SoakError(f"the daemon exited with status {self.proc.returncode} before it "
                                f"was ready; log {self.log_path}:\n{self.log_tail()}")
            try:
                code, _ = self.request("/readyz", timeout=2.0)
                if code == 200:
                    return time.monotonic() - started
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise SoakError(f"the daemon was not ready after {timeout:.0f} s; log "
                        f"{self.log_path}:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self._reap(30)

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM and wait; returns the exit status (SIGKILL after ``timeout``)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self._reap(30)

    def _reap(self, timeout: float) -> int:
        rc = self.proc.wait(timeout) if self.proc is not None else 0
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc


def running_stages(status: dict | None) -> list[str]:
    jobs = ((status or {}).get("scheduler") or {}).get("jobs") or {}
    return sorted(JOB_STAGES.get(name, name) for name, job in jobs.items() if job.get("running"))


# ---------------------------------------------------------------------------- the store


def query(db_path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of a read-only query on a short-lived connection (the daemon may be writing)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def store_counts(db_path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in ("articles", "facts", "edits"):
        out[table] = dict(query(db_path, f"SELECT status, COUNT(*) FROM {table} GROUP BY status"))
    for table in ("probes", "claim_sources", "edit_events", "checkpoints"):
        out[table] = query(db_path, f"SELECT COUNT(*) FROM {table}")[0][0]
    out["open_facts"] = query(db_path, "SELECT COUNT(*) FROM facts WHERE status = 'new' AND "
                                       "relation IS NOT NULL")[0][0]
    return out


def active_checkpoint(db_path: Path) -> int | None:
    rows = query(db_path, "SELECT id FROM checkpoints WHERE status = 'active'")
    return rows[0][0] if rows else None


# ---------------------------------------------------------------------------- the soak


@dataclass
class Kill:
    number: int
    target: str
    stages: list[str]
    waited_s: float  # from ready to the kill
    cycle_s: float
    note: str = ""


@dataclass
class Soak:
    options: SoakOptions
    root: Path
    model_dir: Path
    feeds: NewsFeeds
    rng: random.Random
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    kills: list[Kill] = field(default_factory=list)
    runs: int = 0
    distill_violations: list[str] = field(default_factory=list)
    last_status: dict | None = None  # the daemon's /api/status at the last look

    def __post_init__(self) -> None:
        from memoird.daemon.runtime import DataPaths

        self.paths = DataPaths(self.root / "data")
        self.db_path = self.paths.db

    def env(self, distill: bool = False) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MEMOIRD_") or k == "MEMOIRD_TEST_CACHE"}
        env.update({
            "MEMOIRD_DAEMON_DATA_DIR": str(self.paths.root),
            "MEMOIRD_DAEMON_LOG_FORMAT": "text",
            "MEMOIRD_MODEL_BASE": str(self.model_dir),
            "MEMOIRD_MODEL_DEVICE": "cpu",
            "MEMOIRD_FEEDS_ALLOW_NETWORKS": '["127.0.0.0/8"]',
            # every feed is due again at each start and each tick
            "MEMOIRD_FEEDS_MIN_INTERVAL_S": "1",
            "MEMOIRD_FEEDS_MAX_INTERVAL_S": "5",
            "MEMOIRD_API_TOKEN": self.token,
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        })
        if distill:  # the scheduler's cron slot, every minute, from one applied edit on
            env["MEMOIRD_DISTILL_SCHEDULE"] = "* * * * *"
            env["MEMOIRD_DISTILL_MIN_EDITS"] = "1"
            # a loose gate, so candidates are activated and kills can land in the switch
            # (the gate's own quality is distill_bench's business)
            env["MEMOIRD_DISTILL_MIN_RELIABILITY"] = "0.5"
            env["MEMOIRD_DISTILL_MIN_LOCALITY"] = "0.0"
            env["MEMOIRD_DISTILL_MAX_PPL_DRIFT"] = "1.0"
        return env

    def daemon(self, distill: bool = False) -> Daemon:
        self.runs += 1
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        return Daemon(self.env(distill), logs / f"run-{self.runs:03d}.log")

    def say(self, text: str) -> None:
        self.options.progress(text)

    # ------------------------------------------------------------------ setup

    def add_feeds(self) -> None:
        from memoird.store import feeds as feed_store
        from memoird.store import open_db

        db = open_db(self.db_path)
        try:
            for url in self.feeds.urls():
                feed_store.add_feed(db, url, trust=0.8)
        finally:
            db.close()

    def release_plan(self) -> list[list[Article]]:
        """The dataset's items in a random order, cut into one batch per kill (an item's
        articles, one per outlet, appear together); the first batch has at least two
        items, so the pipeline has edits to make early."""
        items: dict[str, list[Article]] = {}
        for a in self.feeds.articles:
            items.setdefault(a.item_id, []).append(a)
        order = list(items.values())
        self.rng.shuffle(order)
        n = self.options.kills
        cuts = [len(order) * i // n for i in range(n + 1)]
        cuts[1:-1] = [max(c, min(2, len(order))) for c in cuts[1:-1]]
        return [[a for item in order[cuts[i]:cuts[i + 1]] for a in item] for i in range(n)]

    def choose_target(self) -> str:
        """The least targeted stage that has work now, in the order of ``targets``: an
        extraction needs new articles (stored or just released), an apply an approved edit
        (or articles and facts still on their way to one), a revert and a distillation an
        applied or approved edit. Polling always has work."""
        def count(sql: str) -> int:
            return query(self.db_path, sql)[0][0]

        stored = count("SELECT COUNT(*) FROM articles")
        new = count("SELECT COUNT(*) FROM articles WHERE status = 'new'")
        on_the_way = new + count("SELECT COUNT(*) FROM facts WHERE status = 'new' "
                                 "AND relation IS NOT NULL")
        approved = count("SELECT COUNT(*) FROM edits WHERE status = 'approved'")
        applied = count("SELECT COUNT(*) FROM edits WHERE status = 'applied'")
        work = {"poll": True, "extract": new > 0 or len(self.feeds.released) > stored,
                "apply": approved > 0 or on_the_way > 0 or len(self.feeds.released) > stored,
                "revert": applied + approved > 0, "distill": applied + approved > 0}
        done = Counter(k.target for k in self.kills)
        feasible = [t for t in self.options.targets if work[t]] or [self.options.targets[0]]
        return min(feasible, key=lambda t: (done[t], self.options.targets.index(t)))

    # ------------------------------------------------------------------ one kill

    def wait_for(self, daemon: Daemon, done: Callable[[dict | None], bool],
                 timeout: float) -> dict | None:
        """Poll /api/status until ``done(status)``; None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not daemon.alive():
                raise SoakError(f"the daemon exited by itself (status {daemon.proc.returncode}); "
                                f"log {daemon.log_path}:\n{daemon.log_tail()}")
            status = self.last_status = daemon.status()
            if done(status):
                return status
            time.sleep(0.05)
        return None

    def ready_for(self, target: str) -> Callable[[dict | None], bool]:
        """When a targeted stage is under way: its job runs and it has work in hand."""
        def has(sql: str) -> bool:
            return query(self.db_path, sql)[0][0] > 0

        def check(status: dict | None) -> bool:
            stages = running_stages(status)
            if target == "poll":
                return self.feeds.busy > 0
            if target == "extract":
                return "extract" in stages and has(
                    "SELECT COUNT(*) FROM articles WHERE status = 'new'")
            if target == "apply":
                return "apply" in stages and has(
                    "SELECT COUNT(*) FROM edits WHERE status = 'approved'")
            if target == "revert":
                return has("SELECT COUNT(*) FROM edits WHERE status = 'applied'")
            return target in stages
        return check

    def kill_once(self, number: int, target: str) -> Kill:
        started = time.monotonic()
        if target == "distill":  # start so that the cron slot's next minute is 8-30 s away
            to_minute = 60.0 - time.time() % 60.0
            time.sleep(0.0 if 8.0 <= to_minute <= 30.0 else (to_minute - 30.0) % 60.0)
        before = active_checkpoint(self.db_path)
        daemon = self.daemon(distill=target == "distill")
        daemon.start()
        revert: dict[str, Any] = {}
        note, instant, in_flight = "", None, False
        try:
            daemon.wait_ready(self.options.ready_timeout_s)
            ready_at = time.monotonic()
            timeout = self.options.stage_timeout_s + (30.0 if target == "distill" else 0.0)
            for _ in range(3):  # a stage that ends before the instant drawn: once more
                seen = self.wait_for(daemon, self.ready_for(target), timeout)
                if seen is None:
                    note = f"{target} not seen within {timeout:.0f} s"
                    break
                if target == "revert":
                    revert = self.send_revert(daemon)
                instant = self.wait_within(daemon, target, revert)
                if instant or target == "revert":
                    break
                timeout = 15.0
            if instant == "commit":  # at once: what ran is what the last look saw
                in_flight = bool(revert) and not revert.get("done")
                daemon.kill()
                note = "at the memory commit"
                stages = sorted({*running_stages(self.last_status), target})
            else:
                status = daemon.status()
                busy = self.feeds.busy
                in_flight = bool(revert) and not revert.get("done")
                daemon.kill()
                stages = running_stages(status)
                if busy and "poll" not in stages:
                    stages.append("poll")
                if in_flight:
                    stages.append("revert")
        finally:
            if daemon.alive():
                daemon.kill()
        if revert:
            note = f"revert of edit {revert['edit_id']} " + (
                "in flight" if in_flight else f"answered {revert.get('code')}") + (
                f", {note}" if note else "")
        if target == "distill":
            self.check_distill_kill(before, daemon, stages)
        return Kill(number, target, sorted(stages) or ["idle"], round(time.monotonic() - ready_at, 2),
                    round(time.monotonic() - started, 2), note)

    def wait_within(self, daemon: Daemon, target: str, revert: dict[str, Any]) -> str | None:
        """Wait for the kill instant: a random part of the stage's usual length or, for
        half of the apply and revert kills, the moment the memory file commits the edit
        (or its removal), just before the edit log is written. Returns "instant" or
        "commit", None when the stage ended first."""
        at_commit = target in ("apply", "revert") and self.rng.random() < 0.5
        limit = COMMIT_WAIT_S if at_commit else self.rng.uniform(0.0, KILL_WITHIN[target])
        path = memory_file(self.paths, active_checkpoint(self.db_path))
        held = set(memory_edits(path) or ())
        ends = time.monotonic() + limit
        asked = 0.0
        running = True
        while time.monotonic() < ends:
            if at_commit:
                now = memory_edits(path)
                if now is not None and (str(revert["edit_id"]) not in now if target == "revert"
                                        else set(now) - held):
                    return "commit"
            if target == "revert":
                running = not revert.get("done")
            elif target == "poll":
                running = self.feeds.busy > 0
            elif time.monotonic() - asked > (0.1 if at_commit else 0.0):
                self.last_status = daemon.status()
                running = target in running_stages(self.last_status)
                asked = time.monotonic()
            if not running:
                return None
            time.sleep(0.002 if at_commit else 0.02)
        return "instant"

    def send_revert(self, daemon: Daemon) -> dict[str, Any]:
        """POST /api/edits/ID/revert for a random applied edit, answered in a thread."""
        ids = [r[0] for r in query(self.db_path, "SELECT id FROM edits WHERE status = 'applied'")]
        state: dict[str, Any] = {"edit_id": self.rng.choice(ids), "done": False}

        def send() -> None:
            try:
                state["code"], _ = daemon.request(f"/api/edits/{state['edit_id']}/revert",
                                                  method="POST", timeout=120)
            except (OSError, ValueError) as exc:
                state["code"] = type(exc).__name__
            state["done"] = True

        threading.Thread(target=send, daemon=True).start()
        return state

    def check_distill_kill(self, before: int | None, daemon: Daemon, stages: list[str]) -> None:
        """A kill during distillation leaves the previous checkpoint active, unless the
        switch committed: then the new one is complete (folder, passed gate, memory file)."""
        after = active_checkpoint(self.db_path)
        if after == before:
            return
        row = query(self.db_path, "SELECT path, gate_metrics, parent_id FROM checkpoints "
                                  "WHERE id = ?", (after,))
        path, gate, parent = row[0]
        memory = memory_file(self.paths, after)
        problems = []
        if not (Path(path) / "config.json").exists():
            problems.append("its folder has no config.json")
        if not json.loads(gate or "{}").get("passed"):
            problems.append("it did not pass its gate")
        if parent != before:
            problems.append(f"its parent is {parent}, not {before}")
        if not memory.exists():
            problems.append(f"it has no memory file {memory.name}")
        if problems:
            self.distill_violations.append(
                f"kill during {stages}: checkpoint {after} became active instead of {before}, "
                f"but {'; '.join(problems)} (log {daemon.log_path})")

    # ------------------------------------------------------------------ the end

    def finish_distillation(self) -> str:
        """One start with the distillation slot, until a distillation has run to its end
        (it resumes what the killed ones left in their run folder), then a clean stop: the
        final checks then also see a switched checkpoint. Returns what it did."""
        if not query(self.db_path, "SELECT COUNT(*) FROM edits WHERE status = 'applied'")[0][0]:
            return "not run: no applied edit"
        before = active_checkpoint(self.db_path)
        daemon = self.daemon(distill=True)
        daemon.start()
        try:
            daemon.wait_ready(self.options.ready_timeout_s)

            def finished(status: dict | None) -> bool:
                """One run that activated a checkpoint, or two runs (the first may finish a
                resumed snapshot whose candidate is refused: it absorbed an edit that was
                reverted since; the next one distils the memory as it is now)."""
                job = ((status or {}).get("scheduler") or {}).get("jobs", {}).get("distill", {})
                return (not job.get("running") and job.get("runs", 0) >= 1
                        and (job.get("processed", 0) >= 1 or job.get("runs", 0) >= 2))

            status = self.wait_for(daemon, finished, self.options.distill_timeout_s)
            if status is None:
                raise SoakError(f"the distillation did not finish within "
                                f"{self.options.distill_timeout_s:.0f} s; log {daemon.log_path}")
        finally:
            rc = daemon.stop()
        if rc != 0:
            raise SoakError(f"the distillation run did not stop cleanly on SIGTERM (status "
                            f"{rc}); log {daemon.log_path}:\n{daemon.log_tail()}")
        job = status["scheduler"]["jobs"]["distill"]
        if job.get("last_error"):
            raise SoakError(f"the distillation failed: {job['last_error']}; log {daemon.log_path}")
        after = active_checkpoint(self.db_path)
        return (f"checkpoint {after} activated (was {before}) after {job['runs']} runs"
                if after != before else
                f"checkpoint {before} still active after {job['runs']} runs (no candidate "
                "activated)")

    def run_to_idle(self) -> dict[str, Any]:
        """Start once more and wait until the queues are empty and the store is still."""
        daemon = self.daemon()
        daemon.start()
        try:
            daemon.wait_ready(self.options.ready_timeout_s)
            deadline = time.monotonic() + self.options.idle_timeout_s
            last, still_since = None, time.monotonic()
            while True:
                if time.monotonic() > deadline:
                    raise SoakError(f"not idle after {self.options.idle_timeout_s:.0f} s: "
                                    f"{store_counts(self.db_path)}; log {daemon.log_path}")
                if not daemon.alive():
                    raise SoakError(f"the daemon exited by itself (status "
                                    f"{daemon.proc.returncode}); log {daemon.log_path}:\n"
                                    f"{daemon.log_tail()}")
                counts = store_counts(self.db_path)
                status = daemon.status()
                busy = running_stages(status) or self.feeds.busy or status is None
                queued = (counts["articles"].get("new", 0) or counts["open_facts"]
                          or counts["edits"].get("approved", 0))
                if counts != last or busy or queued:
                    last, still_since = counts, time.monotonic()
                elif time.monotonic() - still_since >= self.options.quiet_s:
                    break
                time.sleep(0.5)
        finally:
            rc = daemon.stop()
        if rc != 0:
            raise SoakError(f"the last run did not stop cleanly on SIGTERM (status {rc}); "
                            f"log {daemon.log_path}:\n{daemon.log_tail()}")
        return counts


# ---------------------------------------------------------------------------- checks


def memory_file(paths, checkpoint_id: int) -> Path:
    """The memory file of a checkpoint (daemon/engine.py names it)."""
    from types import SimpleNamespace

    from memoird.daemon.engine import memory_path

    return memory_path(paths.memory, SimpleNamespace(id=checkpoint_id))


def memory_edits(path: Path) -> list[str] | None:
    """The edit ids a memory file holds, read from its safetensors header alone (cheap
    enough to poll; editor/memory_io.py writes it). None while it cannot be read."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        meta = json.loads(header["__metadata__"]["meta"])
    except (OSError, ValueError, KeyError):
        return None
    return [e["edit_id"] for e in meta["edits"]]


def integrity(data_dir: Path) -> dict[str, str]:
    """``PRAGMA integrity_check`` of every SQLite file, and whether each memory file loads."""
    from memoird.editor.memory_io import read_memory

    out = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        if path.name.endswith(("-wal", "-shm", "-journal")):
            continue  # SQLite's side files: they come and go with connections
        try:
            with open(path, "rb") as f:
                header = f.read(16)
        except FileNotFoundError:  # a temporary file removed while we listed the folder
            continue
        if header == b"SQLite format 3\x00":
            conn = sqlite3.connect(path)
            try:
                out[str(path.relative_to(data_dir))] = "; ".join(
                    r[0] for r in conn.execute("PRAGMA integrity_check").fetchall())
            finally:
                conn.close()
        elif path.suffix == ".memoir":
            try:
                read_memory(path)
                out[str(path.relative_to(data_dir))] = "ok"
            except Exception as exc:  # a torn or unreadable memory file is the finding
                out[str(path.relative_to(data_dir))] = f"{type(exc).__name__}: {exc}"
    return out


def article_checks(db_path: Path, articles: list[Article]) -> dict[str, Any]:
    """Every released article stored exactly once with a final status; none extracted twice."""
    rows = query(db_path, "SELECT guid, status FROM articles")
    stored = Counter(g for g, _ in rows)
    status = dict(rows)
    missing = [a.guid for a in articles if stored[a.guid] == 0]
    unfinished = [a.guid for a in articles
                  if stored[a.guid] and status[a.guid] not in FINAL_ARTICLE_STATUSES]
    twice = [g for g, n in stored.items() if n > 1]
    refacted = query(db_path, """
        SELECT DISTINCT a.guid FROM facts f JOIN articles a ON a.id = f.article_id
        GROUP BY f.article_id, f.subject, f.raw_relation, f.object, COALESCE(f.evidence, '')
        HAVING COUNT(*) > 1""")
    probed_twice = query(db_path, "SELECT fact_id FROM probes GROUP BY fact_id HAVING COUNT(*) > 1")
    edits_twice = query(db_path, """
        SELECT claim_id FROM edits WHERE claim_id IS NOT NULL AND status != 'rejected'
        GROUP BY claim_id HAVING COUNT(*) > 1""")
    # half-done stage work: a probed fact that supports no claim, an open claim that
    # already became a live edit
    unclaimed = query(db_path, """
        SELECT id FROM facts f WHERE status = 'probed'
        AND NOT EXISTS (SELECT 1 FROM claim_sources s WHERE s.fact_id = f.id)""")
    undecided = query(db_path, """
        SELECT DISTINCT c.id FROM claims c JOIN edits e ON e.claim_id = c.id
        WHERE c.status = 'open' AND e.status != 'rejected'""")
    return {
        "articles": len(articles), "articles_stored": len(rows),
        "article_statuses": dict(Counter(status[a.guid] for a in articles if stored[a.guid])),
        "lost_articles": len(missing) + len(unfinished),
        "duplicate_articles": len(set(twice) | {r[0] for r in refacted}),
        "duplicate_probes": len(probed_twice), "duplicate_edits": len(edits_twice),
        "half_done": len(unclaimed) + len(undecided),
        "problems": ([f"article {g} never stored" for g in missing]
                     + [f"article {g} left {status[g]!r}" for g in unfinished]
                     + [f"article {g} stored {stored[g]} times" for g in twice]
                     + [f"article {r[0]} has facts stored twice" for r in refacted]
                     + [f"fact {r[0]} probed twice" for r in probed_twice]
                     + [f"claim {r[0]} has several live edits" for r in edits_twice]
                     + [f"fact {r[0]} is probed but supports no claim" for r in unclaimed]
                     + [f"claim {r[0]} is open but has a live edit" for r in undecided]),
    }


def edit_checks(paths, env: dict[str, str]) -> dict[str, Any]:
    """The memory file against the edit log, then the live engine against every applied
    and distilled edit's prompt (memory vs log first: opening the engine reconciles)."""
    from memoird.daemon.config import load_config
    from memoird.daemon.runtime import Runtime
    from memoird.editor.memory_io import read_memory
    from memoird.editor.probe import cut_answer, names_match

    db_path = paths.db
    active = active_checkpoint(db_path)
    lineage, at = [], active
    while at is not None:
        lineage.append(at)
        at = query(db_path, "SELECT parent_id FROM checkpoints WHERE id = ?", (at,))[0][0]
    log = {i: (s, c) for i, s, c in query(db_path, "SELECT id, status, checkpoint_id FROM edits")}
    unverified = [r[0] for r in query(db_path, "SELECT id FROM edits WHERE status = 'applied' "
                                               "AND verification IS NULL")]
    _, meta = read_memory(memory_file(paths, active))
    held = [int(e["edit_id"]) for e in meta["edits"]]
    problems = []
    half = [i for i in held if log.get(i, ("unknown",))[0] != "applied"]
    problems += [f"the memory holds edit {i}, which the log calls {log.get(i, ('unknown',))[0]}"
                 for i in half]
    problems += [f"applied edit {i} was never verified (trained, then logged applied "
                 "without the apply stage's checks)" for i in unverified]
    twice = [i for i, n in Counter(held).items() if n > 1]
    problems += [f"the memory holds edit {i} {Counter(held)[i]} times" for i in twice]
    applied = sorted(i for i, (s, _) in log.items() if s == "applied")
    distilled = sorted(i for i, (s, c) in log.items() if s == "distilled" and c in lineage)
    not_held = [i for i in applied if i not in held]
    problems += [f"applied edit {i} (checkpoint {log[i][1]}) is not in the active memory "
                 f"(checkpoint {active})" for i in not_held]

    rt = Runtime(load_config(None, env=env))
    try:
        engine = rt.engine
        edits = {i: rt.db().execute("SELECT prompt, target FROM edits WHERE id = ?",
                                    [i]).fetchone() for i in [*applied, *distilled]}
        asked = [i for i in [*applied, *distilled] if i not in not_held]
        answers: dict[int, str] = {}
        for start in range(0, len(asked), 16):
            chunk = asked[start:start + 16]
            for i, text in zip(chunk, engine.generate([edits[i][0] for i in chunk],
                                                      max_new_tokens=12)):
                answers[i] = cut_answer(text)
    finally:
        rt.close()
    wrong = [i for i in asked if not names_match(edits[i][1], answers[i])]
    problems += [f"{log[i][0]} edit {i}: {edits[i][0]!r} answers {answers[i]!r}, not "
                 f"{edits[i][1]!r}" for i in wrong]
    return {"active_checkpoint": active, "checkpoints": len(lineage),
            "edits_applied": len(applied), "edits_distilled": len(distilled),
            "edit_statuses": dict(Counter(s for s, _ in log.values())),
            "half_applied": len(half) + len(twice) + len(unverified),
            "edits_unverified": len(unverified),
            "lost_edits": len(not_held) + len(wrong),
            "edits_not_in_memory": len(not_held), "edits_not_answering": len(wrong),
            "problems": problems}


# ---------------------------------------------------------------------------- running it


def model_folder(options: SoakOptions) -> Path:
    if options.model_dir is not None:
        return Path(options.model_dir)
    from memoird.editor.model import convert_builtin

    cache = Path(os.environ.get("MEMOIRD_TEST_CACHE", REPO / ".cache" / "test-data"))
    return convert_builtin(MODEL, cache)


def run(options: SoakOptions) -> dict[str, Any]:
    """The whole soak; returns the result row (``error`` set when it could not finish)."""
    unknown = [t for t in options.targets if t not in TARGETS]
    if unknown or not options.targets:
        raise SoakError(f"targets {list(options.targets)}: choose from {', '.join(TARGETS)}")
    if options.kills < 1:
        raise SoakError(f"--kills {options.kills}: at least one kill")
    started = time.perf_counter()
    articles = load_articles(options.dataset, options.items)
    root = Path(options.work_dir or tempfile.mkdtemp(prefix="memoird-soak-"))
    if options.work_dir is not None and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = random.Random(options.seed)
    row: dict[str, Any] = {"kills": 0, "target_kills": options.kills, "seed": options.seed,
                           "items": len({a.item_id for a in articles}), "error": None}
    failed = True
    model_dir = model_folder(options)
    with NewsFeeds(articles, options.feed_delay_s, options.seed) as feeds:
        soak = Soak(options, root, model_dir, feeds, rng)
        try:
            soak.say(f"soak: {options.kills} kills, {len(articles)} articles in "
                     f"{len(feeds.urls())} feeds, work folder {root}")
            soak.add_feeds()
            plan = soak.release_plan()
            for number in range(options.kills):
                feeds.release(plan[number])
                target = soak.choose_target()
                kill = soak.kill_once(number + 1, target)
                soak.kills.append(kill)
                soak.say(f"kill {kill.number}/{options.kills}: target {target}, hit "
                         f"{'+'.join(kill.stages)} {kill.waited_s:.1f} s after ready "
                         f"(cycle {kill.cycle_s:.1f} s){' - ' + kill.note if kill.note else ''}")
            feeds.release(articles)
            if options.final_distill and "distill" in options.targets:
                soak.say("all articles released; letting one distillation finish")
                row["final_distill"] = soak.finish_distillation()
                soak.say(f"distillation: {row['final_distill']}")
            soak.say("running to idle")
            counts = soak.run_to_idle()
            soak.say(f"idle: {counts}")
            checks_started = time.perf_counter()
            checked = integrity(soak.paths.root)
            art = article_checks(soak.db_path, articles)
            edits = edit_checks(soak.paths, soak.env())
            problems = art.pop("problems") + edits.pop("problems") + soak.distill_violations
            problems += [f"{name}: {result}" for name, result in checked.items() if result != "ok"]
            row.update({
                "lost_edits": edits["lost_edits"], "half_applied": edits["half_applied"],
                "duplicate_articles": art["duplicate_articles"],
                "integrity_ok": all(v == "ok" for v in checked.values()),
                **{k: v for k, v in art.items() if k != "duplicate_articles"},
                **{k: v for k, v in edits.items() if k not in ("lost_edits", "half_applied")},
                "distill_violations": len(soak.distill_violations),
                "sqlite_files": sum(1 for k in checked if not k.endswith(".memoir")),
                "memory_files": sum(1 for k in checked if k.endswith(".memoir")),
                "checks_s": round(time.perf_counter() - checks_started, 1),
                "problems": problems[:50],
            })
            failed = bool(problems)
        except SoakError as exc:
            row["error"] = str(exc)
            soak.say(f"soak: ERROR {exc}")
        finally:
            row.update({
                "kills": len(soak.kills),
                "stages_hit": dict(sorted(Counter(s for k in soak.kills for s in k.stages).items())),
                "targets_hit": sum(k.target in k.stages for k in soak.kills),
                "commit_kills": sum("at the memory commit" in k.note for k in soak.kills),
                "restarts": soak.runs,
                "wall_s": round(time.perf_counter() - started, 1),
                "kill_log": [asdict(k) for k in soak.kills],
                "work_dir": str(root),
            })
    if failed or row["error"]:
        soak.say(f"soak: state kept in {root} for inspection")
    elif not options.keep and options.work_dir is None:
        shutil.rmtree(root, ignore_errors=True)
    return row


def passed(row: dict[str, Any]) -> bool:
    return (not row.get("error") and row.get("integrity_ok") is True
            and not any(row.get(k) for k in ("lost_edits", "half_applied", "duplicate_articles",
                                             "duplicate_probes", "duplicate_edits", "half_done",
                                             "lost_articles", "distill_violations")))


def main(argv: list[str] | None = None, out_dir: Path | None = None,
         progress: Callable[[str], None] = functools.partial(print, flush=True)) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--items", default="", help="comma-separated dataset item ids "
                        "(default: every item)")
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"stages to target in turn (default {','.join(TARGETS)})")
    parser.add_argument("--model-dir", type=Path, help="a converted model folder "
                        f"(default: {MODEL}, converted once under .cache/test-data)")
    parser.add_argument("--work-dir", type=Path, help="work folder (emptied first; kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--stage-timeout", type=float, default=60.0)
    parser.add_argument("--idle-timeout", type=float, default=1800.0)
    parser.add_argument("--no-final-distill", action="store_true",
                        help="skip the distillation that runs to its end before the final run")
    parser.add_argument("--name", default="soak", help="results file name (default soak)")
    args = parser.parse_args(argv)
    options = SoakOptions(
        kills=args.kills, items=tuple(i for i in args.items.split(",") if i),
        dataset=args.dataset, seed=args.seed,
        targets=tuple(t for t in args.targets.split(",") if t), model_dir=args.model_dir,
        work_dir=args.work_dir, keep=args.keep, stage_timeout_s=args.stage_timeout,
        idle_timeout_s=args.idle_timeout, final_distill=not args.no_final_distill,
        progress=progress)
    try:
        row = run(options)
    except SoakError as exc:
        print(f"soak: error: {exc}", file=sys.stderr)
        return 2
    summary = {k: row.get(k) for k in ("kills", "stages_hit", "lost_edits", "half_applied",
                                       "duplicate_articles", "integrity_ok", "wall_s", "error")}
    progress(json.dumps(summary))
    for problem in row.get("problems") or []:
        progress(f"  problem: {problem}")
    path = write_results(args.name, [row], out_dir=out_dir, extra_meta={
        "dataset": str(Path(args.dataset).resolve().relative_to(REPO))
        if Path(args.dataset).resolve().is_relative_to(REPO) else str(args.dataset)})
    progress(f"wrote {path}")
    return 0 if passed(row) else 1


if __name__ == "__main__":
    raise SystemExit(main())
