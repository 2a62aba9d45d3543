"""The poll stage: fetch every due feed, store new articles, and reschedule each feed.

Network work (fetch, parse, HTML to text, article pages) runs on a thread pool; every SQLite
write happens on the calling thread, one transaction per feed, so a failure while storing one
feed rolls back only that feed and never touches what was stored before. Whatever goes wrong
with a feed ends up as a readable ``last_error`` on it and a new ``next_check_at``; the pass
always goes on to the other feeds.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from http import HTTPStatus

from sqlite_utils import Database

from memoird.extractors.article import ArticleDraft, entries_to_articles, fetch_full_text, needs_full_text
from memoird.extractors.feed import FeedParseError, ParsedFeed, parse_feed
from memoird.extractors.fetch import Fetcher, FetchRequest, FetchResult
from memoird.extractors.politeness import (
    Schedule,
    next_check_after_failure,
    next_check_after_success,
    parse_expires,
    parse_max_age,
    parse_retry_after,
    should_pause,
)
from memoird.store import Duplicate, articles, feeds, write_transaction
from memoird.store.records import Feed

__all__ = ["FeedOutcome", "PollReport", "poll_due_feeds"]

log = logging.getLogger("memoird.poll")

#: outcome.result values (also the label values of the ``memoird_polls`` metric)
RESULTS = ("updated", "not_modified", "failed", "gone", "paused")


@dataclass
class FeedOutcome:
    feed_id: int
    url: str
    result: str
    http_status: int | None = None
    new_articles: int = 0
    seen_articles: int = 0
    error: str | None = None
    moved_to: str | None = None
    next_check_at: datetime | None = None


@dataclass
class PollReport:
    started_at: datetime
    duration_s: float = 0.0
    outcomes: list[FeedOutcome] = field(default_factory=list)

    @property
    def processed(self) -> int:
        """Feeds polled (what the scheduler's drain loop counts)."""
        return len(self.outcomes)

    @property
    def new_articles(self) -> int:
        return sum(o.new_articles for o in self.outcomes)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    def summary(self) -> dict[str, int | float]:
        return {"feeds": self.processed, "new_articles": self.new_articles,
                "duration_s": round(self.duration_s, 3), **{r: self.count(r) for r in RESULTS}}


@dataclass
class _Fetched:
    """What a worker thread learned about one feed; applied to the database on the main thread."""

    feed: Feed
    result: FetchResult
    parsed: ParsedFeed | None = None
    drafts: list[ArticleDraft] = field(default_factory=list)
    problem: str | None = None


def _fetch_and_parse(feed: Feed, fetcher: Fetcher) -> _Fetched:
    result = fetcher.fetch(FetchRequest(feed.url, etag=feed.etag, last_modified=feed.last_modified))
    out = _Fetched(feed, result)
    if result.ok:
        try:
            out.parsed = parse_feed(result.body, url=result.final_url, content_type=result.content_type)
            out.drafts = entries_to_articles(out.parsed.entries)
        except FeedParseError as exc:
            out.problem = str(exc)
        except Exception as exc:  # a parser bug on hostile input must not end the pass
            log.exception("parsing %s failed", feed.url, extra={"feed_id": feed.id})
            out.problem = f"{feed.url}: cannot parse ({type(exc).__name__}: {exc})"
    return out


def _http_problem(result: FetchResult) -> str:
    try:
        reason = HTTPStatus(result.status).phrase  # type: ignore[arg-type]
    except ValueError:
        reason = "unexpected status"
    return f"HTTP {result.status} {reason} from {result.final_url}"


class _Applier:
    """Turns fetch results into feed updates and articles; runs on the database thread only."""

    def __init__(self, db: Database, schedule: Schedule, now: datetime, rng: random.Random) -> None:
        self.db, self.schedule, self.now, self.rng = db, schedule, now, rng

    def apply(self, f: _Fetched) -> tuple[FeedOutcome, list[tuple[int, ArticleDraft]]]:
        """Store one feed's outcome; returns it plus the new summary-only articles worth a page fetch."""
        res = f.result
        outcome = FeedOutcome(f.feed.id, f.feed.url, "failed", http_status=res.status)
        if res.error is not None:
            self._failure(f.feed, outcome, res.error, res)
        elif res.status == 410:
            self._gone(f.feed, outcome, res)
        elif res.status == 304:
            self._success(f.feed, outcome, res, None, [])
            outcome.result = "not_modified"
        elif res.ok and f.problem is None:
            assert f.parsed is not None
            new = self._success(f.feed, outcome, res, f.parsed, f.drafts)
            outcome.result = "updated"
            return outcome, new
        else:
            self._failure(f.feed, outcome, f.problem or _http_problem(res), res)
        return outcome, []

    def _moved(self, feed: Feed, outcome: FeedOutcome, res: FetchResult, fields: dict) -> str | None:
        """Follow a permanent redirect by storing the new URL, unless another feed has it already."""
        if not res.permanent_url or res.permanent_url == feed.url:
            return None
        try:
            feeds.update_feed(self.db, feed.id, url=res.permanent_url)
        except Duplicate as exc:
            return f"moved permanently to {res.permanent_url}, already subscribed as feed {exc.existing_id}"
        outcome.moved_to = res.permanent_url
        log.info("feed moved", extra={"feed_id": feed.id, "from": feed.url, "to": res.permanent_url})
        return None

    def _success(self, feed: Feed, outcome: FeedOutcome, res: FetchResult,
                 parsed: ParsedFeed | None, drafts: list[ArticleDraft]) -> list[tuple[int, ArticleDraft]]:
        outcome.next_check_at = next_check_after_success(
            self.now, self.schedule,
            ttl_s=parsed.ttl_s if parsed else None,
            max_age_s=parse_max_age(res.headers.get("cache-control")),
            expires_in_s=parse_expires(res.headers.get("expires"), self.now),
        )
        fields: dict = {
            "etag": res.etag or feed.etag, "last_modified": res.last_modified or feed.last_modified,
            "next_check_at": outcome.next_check_at, "last_checked_at": self.now,
            "error_count": 0,
            # a 304 means the same document, so a malformed-feed warning from its last parse still holds
            "last_error": parsed.warning if parsed else (feed.last_error if feed.error_count == 0 else None),
        }
        if parsed is not None:
            if not feed.title and parsed.title:
                fields["title"] = parsed.title[:500]
            if not feed.site_url and parsed.link:
                fields["site_url"] = parsed.link
        fetch_pages: list[tuple[int, ArticleDraft]] = []
        with write_transaction(self.db):
            note = self._moved(feed, outcome, res, fields)
            if note:
                fields["last_error"] = note
            for draft in drafts:
                article, created = articles.insert_article(
                    self.db, feed.id, guid=draft.guid, url=draft.url, title=draft.title or None,
                    published_at=draft.published_at, text=draft.text, now=self.now,
                )
                if created:
                    outcome.new_articles += 1
                    if needs_full_text(draft):
                        fetch_pages.append((article.id, draft))
                else:
                    outcome.seen_articles += 1
            feeds.update_feed(self.db, feed.id, **fields)
        return fetch_pages if feed.fetch_full_article else []

    def _failure(self, feed: Feed, outcome: FeedOutcome, error: str, res: FetchResult | None) -> None:
        count = feed.error_count + 1
        retry_after = None
        if res is not None and res.status in (429, 503):
            retry_after = parse_retry_after(res.headers.get("retry-after"), self.now)
            if retry_after is not None:
                error = f"{error} (Retry-After {retry_after:g}s)"
        outcome.error = error
        outcome.next_check_at = next_check_after_failure(
            self.now, count, self.schedule, retry_after_s=retry_after, rng=self.rng)
        fields: dict = {"error_count": count, "last_error": error[:2000], "last_checked_at": self.now,
                        "next_check_at": outcome.next_check_at}
        if should_pause(count, self.schedule):
            fields["status"] = "paused"
            fields["paused_reason"] = f"paused after {count} consecutive failures; last: {error}"[:2000]
            fields["next_check_at"] = outcome.next_check_at = None
            outcome.result = "paused"
        feeds.update_feed(self.db, feed.id, **fields)
        log.warning("feed poll failed", extra={"feed_id": feed.id, "url": feed.url, "error": error,
                                               "error_count": count})

    def _gone(self, feed: Feed, outcome: FeedOutcome, res: FetchResult) -> None:
        reason = f"HTTP 410 Gone from {res.final_url}: the publisher removed this feed"
        outcome.result, outcome.error = "gone", reason
        feeds.update_feed(self.db, feed.id, status="gone", paused_reason=reason, last_error=reason,
                          last_checked_at=self.now, next_check_at=None)
        log.warning("feed gone", extra={"feed_id": feed.id, "url": feed.url})

    def record_crash(self, feed: Feed, exc: BaseException) -> FeedOutcome:
        """Storing the feed's results raised (its transaction rolled back): record it as a failure."""
        log.exception("storing poll results failed", extra={"feed_id": feed.id})
        outcome = FeedOutcome(feed.id, feed.url, "failed")
        try:
            self._failure(feed, outcome, f"internal error while storing: {type(exc).__name__}: {exc}", None)
        except Exception:
            log.exception("cannot record failure", extra={"feed_id": feed.id})
        return outcome


def _fill_full_text(db: Database, fetcher: Fetcher, pool: ThreadPoolExecutor,
                    pages: list[tuple[int, ArticleDraft]]) -> None:
    """Fetch the pages of new summary-only articles and store their main text (summary kept on failure)."""
    futures = {pool.submit(fetch_full_text, draft, fetcher): article_id for article_id, draft in pages}
    for fut in as_completed(futures):
        article_id = futures[fut]
        try:
            draft, problem = fut.result()
            if problem:
                log.info("article page not used", extra={"article_id": article_id, "reason": problem})
            elif not draft.summary_only:
                articles.set_article_status(db, article_id, "new", text=draft.text)
        except Exception:
            log.exception("full-text fetch failed", extra={"article_id": article_id})


def poll_due_feeds(
    db: Database,
    fetcher: Fetcher,
    now: datetime | None = None,
    limit: int | None = None,
    *,
    only: Sequence[Feed] | None = None,
    schedule: Schedule | None = None,
    concurrency: int = 8,
    fetch_full_article: bool = False,
    rng: random.Random | None = None,
    on_outcome: Callable[[FeedOutcome], None] | None = None,
) -> PollReport:
    """Poll every active feed whose ``next_check_at`` has passed (at most ``limit``), concurrently.

    ``only`` polls exactly these feeds instead, due or not (``memoird feeds poll ID``, benchmarks).
    ``fetch_full_article`` turns page fetching on for every feed; otherwise each feed's own flag
    decides. ``on_outcome`` is called on the calling thread after each feed is stored (metrics,
    progress bars).
    """
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    due = list(only) if only is not None else feeds.due_feeds(db, now, limit=limit if limit is not None else 1_000_000)
    report = PollReport(started_at=now)
    started = time.perf_counter()
    applier = _Applier(db, schedule or Schedule(), now, rng or random.Random())
    if fetch_full_article:
        due = [replace(f, fetch_full_article=True) for f in due]
    pages: list[tuple[int, ArticleDraft]] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="poll") as pool:
        futures: dict[Future[_Fetched], Feed] = {pool.submit(_fetch_and_parse, f, fetcher): f for f in due}
        for fut in as_completed(futures):
            feed = futures[fut]
            try:
                outcome, new_pages = applier.apply(fut.result())
                pages.extend(new_pages)
            except Exception as exc:
                outcome = applier.record_crash(feed, exc)
            report.outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        _fill_full_text(db, fetcher, pool, pages)
    report.duration_s = time.perf_counter() - started
    log.info("poll pass done", extra=report.summary())
    return report
