"""The HTTP API: health, metrics, OpenAI-compatible completions, the edit log, feeds.

The OpenAI-compatible part (``/v1/*``: models, completions, chat, its error shape and its
optional token) lives in daemon/openai_api.py.

``create_app(service)`` builds the FastAPI app around a running ``Service`` (see
daemon/service.py), which provides:

- ``service.rt``: the runtime (``rt.db()`` is this thread's SQLite connection,
  ``rt.engine`` the live model, ``rt.config`` the config);
- ``service.engine_loaded``: False while the model is still loading (``/readyz`` says so);
- ``service.generator``: the completion batcher in front of the engine (daemon/batching.py);
- ``service.metrics``, ``service.scheduler`` (or None), ``service.token`` (or None).

Reads are open; every write (edit actions, feed changes) needs ``Authorization: Bearer
<token>``, the token coming from the environment variable named by ``[api] token_env``.
Without a configured token, writes are refused: a daemon must not be writable by anyone
who can reach its port because an operator forgot a variable.

Store errors map to HTTP statuses in one place: NotFound 404, Duplicate and
IllegalTransition 409, InvalidValue 422, each with the store's message as ``detail``
(outside ``/v1/*``, errors keep FastAPI's ``{"detail": ...}`` shape).
"""

from __future__ import annotations

import hmac
import logging
import sqlite3
import time
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from memoird.daemon import actions, openai_api
from memoird.daemon.metrics import CONTENT_TYPE
from memoird.daemon.provenance import edit_provenance, edit_summary
from memoird.store import checkpoints as checkpoint_store
from memoird.store import edits as edit_log
from memoird.store import feeds as feed_store
from memoird.store.errors import Duplicate, IllegalTransition, InvalidValue, NotFound
from memoird.store.records import EDIT_STATUSES, FEED_STATUSES

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- request bodies


class ActionBody(BaseModel):
    reason: str | None = Field(None, max_length=2000)
    actor: str | None = Field(None, max_length=200)


class FeedBody(BaseModel):
    url: str
    title: str | None = None
    trust: float = Field(0.5, ge=0.0, le=1.0)
    fetch_full_article: bool = False


# ---------------------------------------------------------------- the app


def create_app(service: Any) -> FastAPI:
    app = FastAPI(
        title="memoird",
        summary="Keeps a language model's knowledge current with MEMOIR edits from news feeds.",
        version=_version(),
    )
    app.state.service = service
    bearer = HTTPBearer(auto_error=False, description="the token in [api] token_env")
    static = resources.files("memoird.daemon") / "static"

    def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        expected = service.token
        if not expected:
            raise HTTPException(401, "write actions are disabled: no API token is configured "
                                     f"(set the environment variable {service.token_env})",
                                headers={"WWW-Authenticate": "Bearer"})
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.middleware("http")
    async def server_timing(request: Request, call_next):
        """``Server-Timing: app;dur=<ms>`` on every response: the time spent in the daemon,
        which a browser's network panel and the API benchmark read without client noise.
        (For a streamed response it covers the time to the first byte.)"""
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1e3:.2f}"
        return response

    for exc_type, status in ((NotFound, 404), (Duplicate, 409), (IllegalTransition, 409),
                             (InvalidValue, 422)):
        app.add_exception_handler(exc_type, _store_error(status))

    # ------------------------------------------------------------ health

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers. Never touches the model or the database."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Readiness: the model is loaded, the database accepts writes, not stopping."""
        checks = {"model": "loaded" if service.engine_loaded else "loading",
                  "database": _database_writable(service.rt.paths.db)}
        if service.stopping:
            checks["process"] = "stopping"
        ready = (checks["model"] == "loaded" and checks["database"] == "writable"
                 and not service.stopping)
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/api/status", tags=["health"])
    def status() -> dict[str, Any]:
        """What the dashboard's header shows: model, memory, scheduler jobs, edit counts."""
        db = service.rt.db()
        counts = dict(db.execute("SELECT status, COUNT(*) FROM edits GROUP BY status").fetchall())
        return {
            "model": service.model_name,
            "engine_loaded": service.engine_loaded,
            "memory": service.memory_stats(),
            "scheduler": service.scheduler.status() if service.scheduler else None,
            "edits": {s: counts.get(s, 0) for s in EDIT_STATUSES},
            "writes_enabled": bool(service.token),
        }

    openai_api.install(app, service)  # /v1/*: OpenAI's conventions, errors included

    # ------------------------------------------------------------ edit log

    @app.get("/api/edits", tags=["edits"])
    def list_edits(status: list[str] | None = Query(None, description="one or more statuses"),
                   subject: str | None = Query(None, max_length=500),
                   relation: str | None = Query(None, max_length=200),
                   since: str | None = Query(None, description="ISO 8601 time"),
                   limit: int = Query(50, ge=1, le=500),
                   offset: int = Query(0, ge=0)) -> dict[str, Any]:
        """One page of the edit log, newest first, with the total for the same filters."""
        db = service.rt.db()
        filters = {"status": status or None, "subject": subject or None,
                   "relation": relation or None, "since": since or None}
        rows = edit_log.list_edits(db, limit=limit, offset=offset, **filters)
        return {"total": edit_log.count_edits(db, **filters), "limit": limit,
                "offset": offset, "items": [edit_summary(e) for e in rows]}

    @app.get("/api/claims/held", tags=["edits"])
    def held_claims(limit: int = Query(200, ge=1, le=1000)) -> dict[str, Any]:
        """Open claims the policy has not turned into edits, each with why: the rule
        that refused it ("evidence_mismatch", "contradicted"...) or that it still waits
        for independent sources."""
        from memoird.extractors.schema import label
        from memoird.store.claims import held_claims as held

        items = held(service.rt.db(), limit)
        for item in items:
            item["relation_label"] = label(item["relation"])
        return {"items": items}

    @app.get("/api/edits/{edit_id}", tags=["edits"])
    def show_edit(edit_id: int) -> dict[str, Any]:
        """An edit with its full provenance: claim, sources with evidence sentences,
        probe answers before and verification after, policy rule, every event."""
        return edit_provenance(service.rt.db(), edit_id)

    def edit_action(name: str, func):
        def act(edit_id: int, body: ActionBody | None = None,
                _: None = Depends(require_token)) -> dict[str, Any]:
            body = body or ActionBody()
            edit = func(service.rt, edit_id, actor=body.actor or "operator",
                        reason=body.reason or f"{name} via API")
            log.info("edit %s %s", edit_id, edit.status,
                     extra={"edit_id": edit_id, "action": name, "actor": body.actor or "operator"})
            if name == "approve":
                service.wake("apply")
            return edit_summary(edit)
        act.__name__ = f"{name}_edit"
        act.__doc__ = {"approve": "Approve an edit; the apply stage trains it next.",
                       "reject": "Reject an edit that has not reached the weights.",
                       "revert": "Take an applied edit out of the live memory."}[name]
        return act

    for name, func in actions.EDIT_ACTIONS.items():
        app.post(f"/api/edits/{{edit_id}}/{name}", tags=["edits"])(edit_action(name, func))

    # ------------------------------------------------------------ feeds & checkpoints

    @app.get("/api/feeds", tags=["feeds"])
    def list_feeds(status: str | None = Query(None, description=" | ".join(FEED_STATUSES))
                   ) -> dict[str, Any]:
        """Feeds with their health: error streak, last error, last and next check, articles."""
        db = service.rt.db()
        counts = dict(db.execute("SELECT feed_id, COUNT(*) FROM articles GROUP BY feed_id")
                      .fetchall())
        items = []
        for feed in feed_store.list_feeds(db, status=status):
            row = feed_store.public_dict(feed)
            row["articles"] = counts.get(feed.id, 0)
            row["health"] = _feed_health(row)
            items.append(row)
        return {"items": items}

    @app.post("/api/feeds", tags=["feeds"], status_code=201)
    def add_feed(body: FeedBody, _: None = Depends(require_token)) -> dict[str, Any]:
        feed = feed_store.add_feed(service.rt.db(), body.url, title=body.title,
                                   trust=body.trust, fetch_full_article=body.fetch_full_article)
        service.wake("tick")
        return feed_store.public_dict(feed)

    @app.delete("/api/feeds/{feed_id}", tags=["feeds"])
    def remove_feed(feed_id: int, _: None = Depends(require_token)) -> dict[str, Any]:
        """Stop polling a feed; its articles and the edits they caused are kept."""
        return feed_store.public_dict(feed_store.remove_feed(service.rt.db(), feed_id))

    @app.post("/api/feeds/{feed_id}/pause", tags=["feeds"])
    def pause_feed(feed_id: int, body: ActionBody | None = None,
                   _: None = Depends(require_token)) -> dict[str, Any]:
        reason = (body.reason if body else None) or "paused via API"
        return feed_store.public_dict(actions.pause_feed(service.rt.db(), feed_id, reason=reason))

    @app.post("/api/feeds/{feed_id}/resume", tags=["feeds"])
    def resume_feed(feed_id: int, _: None = Depends(require_token)) -> dict[str, Any]:
        feed = feed_store.public_dict(actions.resume_feed(service.rt.db(), feed_id))
        service.wake("tick")
        return feed

    @app.get("/api/checkpoints", tags=["checkpoints"])
    def list_checkpoints() -> dict[str, Any]:
        """The checkpoint lineage, newest first; exactly one is active."""
        return {"items": [c.as_dict() for c in checkpoint_store.list_checkpoints(service.rt.db())]}

    @app.post("/api/distill", tags=["checkpoints"], status_code=202)
    def distill_now(_: None = Depends(require_token)) -> dict[str, Any]:
        """Run the scheduled distillation job now instead of at its next slot (in the
        daemon, on the live model; below ``[distill] min_edits`` it skips itself)."""
        if service.scheduler is None or "distill" not in service.scheduler.health:
            raise HTTPException(409, "no distillation job: set [distill] schedule")
        service.wake("distill")
        return {"job": "distill", "started": True}

    # ------------------------------------------------------------ dashboard

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        with resources.as_file(static / "index.html") as path:
            return FileResponse(path, headers={"Cache-Control": "no-cache"})

    with resources.as_file(static) as folder:
        app.mount("/static", StaticFiles(directory=folder), name="static")

    return app


# ---------------------------------------------------------------- helpers


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("memoird")
    except PackageNotFoundError:
        return "0"


def _store_error(status: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)
    return handler


def _database_writable(path: Any) -> str:
    """Take and release the write lock on a separate short-lived connection: proves the
    file, its directory (WAL) and the lock are usable without writing a byte."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=2.0,
                               isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"not writable: {exc}"
    return "writable"


def _feed_health(feed: dict[str, Any]) -> str:
    if feed["status"] != "active":
        return feed["status"]
    if feed["error_count"]:
        return "failing"
    return "ok" if feed["last_checked_at"] else "new"
