"""The `memoird` command line: one subcommand per operator action.

Every action here calls the same function the HTTP API calls (daemon/actions.py and the
store), so the dashboard and the shell can never disagree about what "approve" means.
Errors in the operator's input exit with status 2 and one line naming the input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence


EXIT_USAGE = 2


class CliError(Exception):
    """An operator mistake: printed as one line, exit status 2."""


# ---------------------------------------------------------------- helpers


def _runtime(args: argparse.Namespace):
    from memoird.daemon.config import load_config
    from memoird.daemon.runtime import Runtime

    path = Path(args.config) if args.config else None
    if path is None and Path("memoird.toml").exists():
        path = Path("memoird.toml")
    return Runtime(load_config(path), path)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title, show_lines=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(width=max(100, _terminal_width())).print(table)


def _terminal_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 140


def _feed_ref(db, ref: str):
    """A feed by id or by URL: operators paste whichever they have."""
    from memoird.store import feeds

    if ref.isdigit():
        return feeds.get_feed(db, int(ref))
    return feeds.get_feed_by_url(db, ref)


# ---------------------------------------------------------------- init / status


def cmd_init(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    rt.paths.root.mkdir(parents=True, exist_ok=True)
    rt.db()
    engine = rt.engine
    print(f"data directory  {rt.paths.root}")
    print(f"database        {rt.paths.db}")
    print(f"base model      {engine.checkpoint_path}  (loaded in {engine.load_seconds:.1f} s"
          f"{', converted from GGUF' if engine.converted else ''})")
    print(f"memory          layer {engine.memory_layer}, {engine.edit_count} edits")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from memoird.daemon.status import collect_status

    rt = _runtime(args)
    status = collect_status(rt)
    if args.json:
        _print_json(status)
        return 0
    for section, values in status.items():
        print(f"[{section}]")
        for key, value in values.items():
            print(f"  {key:22} {value}")
    return 0


# ---------------------------------------------------------------- feeds


def cmd_feeds_add(args: argparse.Namespace) -> int:
    from memoird.store import feeds

    rt = _runtime(args)
    feed = feeds.add_feed(rt.db(), args.url, title=args.title, trust=args.trust,
                          fetch_full_article=args.full_article)
    print(f"added feed {feed.id}: {feed.url}")
    return 0


def cmd_feeds_list(args: argparse.Namespace) -> int:
    from memoird.store import feeds

    rt = _runtime(args)
    rows = feeds.list_feeds(rt.db(), status=args.status)
    if args.json:
        _print_json([f.as_dict() for f in rows])
        return 0
    _table(
        ["id", "status", "url", "title", "trust", "errors", "next check", "last error / reason"],
        [[f.id, f.status, f.url, f.title, f"{f.trust:.2f}", f.error_count, f.next_check_at,
          f.paused_reason or f.last_error] for f in rows],
        title=f"{len(rows)} feeds",
    )
    return 0


def cmd_feeds_remove(args: argparse.Namespace) -> int:
    from memoird.store import feeds

    rt = _runtime(args)
    feed = _feed_ref(rt.db(), args.feed)
    feeds.remove_feed(rt.db(), feed.id)
    print(f"removed feed {feed.id}: {feed.url} (its articles and edits are kept)")
    return 0


def cmd_feeds_pause(args: argparse.Namespace) -> int:
    from memoird.daemon import actions

    rt = _runtime(args)
    feed = _feed_ref(rt.db(), args.feed)
    feed = actions.pause_feed(rt.db(), feed.id, reason=args.reason or "paused by operator")
    print(f"feed {feed.id} is {feed.status}")
    return 0


def cmd_feeds_resume(args: argparse.Namespace) -> int:
    from memoird.daemon import actions

    rt = _runtime(args)
    feed = _feed_ref(rt.db(), args.feed)
    feed = actions.resume_feed(rt.db(), feed.id)
    print(f"feed {feed.id} is {feed.status}")
    return 0


def cmd_feeds_import(args: argparse.Namespace) -> int:
    from memoird.extractors.opml import parse_opml
    from memoird.store import feeds
    from memoird.store.errors import Duplicate

    rt = _runtime(args)
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read OPML file {path}: {exc.strerror}") from None
    entries = parse_opml(data, source=str(path))
    added = skipped = 0
    for entry in entries:
        try:
            feeds.add_feed(rt.db(), entry.url, title=entry.title, site_url=entry.site_url)
            added += 1
        except Duplicate:
            skipped += 1
    print(f"imported {added} feeds from {path} ({skipped} already present)")
    return 0


def cmd_feeds_export(args: argparse.Namespace) -> int:
    from memoird.extractors.opml import OpmlFeed, export_opml
    from memoird.store import feeds

    rt = _runtime(args)
    outlines = [OpmlFeed(url=f.url, title=f.title, site_url=f.site_url)
                for f in feeds.list_feeds(rt.db())]
    data = export_opml(outlines, title="memoird feeds")
    if args.file in (None, "-"):
        sys.stdout.write(data.decode("utf-8"))
    else:
        from memoird.store.atomic import atomic_write_bytes

        atomic_write_bytes(args.file, data)
        print(f"exported {len(outlines)} feeds to {args.file}")
    return 0


# ---------------------------------------------------------------- pipeline


def cmd_poll(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    if not args.json:
        rt.pipeline.run_once(progress=not args.quiet)
        return 0
    # stdout carries exactly one JSON document: the stage progress lines, and anything a
    # library prints while the model loads, go to stderr
    with _stdout_to_stderr():
        report = rt.pipeline.run_once(progress=not args.quiet)
    _print_json(report)
    return 0


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send stdout to stderr inside the block, Python's ``print`` and file descriptor 1
    alike (native code and subprocesses write to the descriptor, not to sys.stdout)."""
    sys.stdout.flush()
    try:
        saved: int | None = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no descriptor 1 or 2 (a closed stream): Python's print still moves
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def cmd_run(args: argparse.Namespace) -> int:
    from memoird.daemon.service import run_service

    return run_service(_runtime(args))


def cmd_ask(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    prompt = args.prompt
    engine = rt.engine
    answer = engine.generate([prompt], max_new_tokens=args.max_tokens,
                             use_memory=not args.no_memory)[0]
    if args.json:
        route = engine.route([prompt])[0]
        _print_json({"prompt": prompt, "answer": answer, "edit": route})
    else:
        print(answer)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from memoird.daemon.demo import run_demo

    return run_demo(data_dir=Path(args.data_dir), keep=args.keep)


# ---------------------------------------------------------------- edits


def _edit_row(e) -> list[Any]:
    return [e.id, e.status, e.subject, e.relation, e.target, e.old_answer, e.updated_at]


def cmd_edits_list(args: argparse.Namespace) -> int:
    from memoird.store import edits

    rt = _runtime(args)
    filters = {"status": args.status, "subject": args.subject, "relation": args.relation,
               "since": args.since}
    rows = edits.list_edits(rt.db(), limit=args.limit, offset=args.offset, **filters)
    total = edits.count_edits(rt.db(), **filters)
    if args.json:
        _print_json({"total": total, "edits": [e.as_dict() for e in rows]})
        return 0
    _table(["id", "status", "subject", "relation", "target", "old answer", "updated"],
           [_edit_row(e) for e in rows],
           title=f"edits {args.offset + 1}-{args.offset + len(rows)} of {total}")
    return 0


def cmd_edits_show(args: argparse.Namespace) -> int:
    from memoird.daemon.provenance import edit_provenance

    rt = _runtime(args)
    detail = edit_provenance(rt.db(), args.id)
    if args.json:
        _print_json(detail)
        return 0
    edit = detail["edit"]
    print(f"edit {edit['id']}  [{edit['status']}]  {edit['subject']} / {edit['relation']}")
    print(f"  prompt      {edit['prompt']}")
    print(f"  target      {edit['target']}")
    print(f"  old answer  {edit['old_answer']}")
    print(f"  rule        {edit['policy_rule']}")
    print(f"  why         {edit['why']}")
    for src in detail.get("sources", []):
        print(f"  source      {src.get('domain')}  {src.get('url')}")
        print(f"              \u201c{src.get('evidence')}\u201d")
    for probe in detail.get("probes", []):
        print(f"  probe       {probe.get('template')!r} -> {probe.get('answer')!r} "
              f"[{probe.get('verdict')}]")
    if edit.get("verification"):
        print(f"  verified    {json.dumps(edit['verification'])}")
    for ev in detail.get("events", []):
        print(f"  {ev['at']}  {ev['from_status'] or '-':>9} -> {ev['to_status']:<9} "
              f"{ev['actor']}: {ev['reason']}")
    return 0


def _edit_action(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from memoird.daemon import actions

        rt = _runtime(args)
        actor = args.actor or os.environ.get("USER") or "operator"
        edit = getattr(actions, f"{name}_edit")(rt, args.id, actor=actor,
                                                reason=args.reason or f"{name} from the CLI")
        print(f"edit {edit.id} is {edit.status}")
        return 0

    return run


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memoird",
        description="Keep a language model's knowledge current with MEMOIR edits from news feeds.",
    )
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="TOML config (default: ./memoird.toml if present, else defaults "
                             "and MEMOIRD_* environment variables)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("init", help="create the data directory, database and base checkpoint")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("status", help="what the daemon holds: feeds, queues, edits, memory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    feeds = sub.add_parser("feeds", help="manage the feeds that are polled").add_subparsers(
        dest="feeds_command", metavar="ACTION", required=True)
    p = feeds.add_parser("add", help="add a feed URL")
    p.add_argument("url")
    p.add_argument("--title")
    p.add_argument("--trust", type=float, default=0.5, help="source trust 0..1 (default 0.5)")
    p.add_argument("--full-article", action="store_true",
                   help="fetch each entry's page and extract its main text")
    p.set_defaults(func=cmd_feeds_add)
    p = feeds.add_parser("list", help="list feeds with their health")
    p.add_argument("--status", choices=["active", "paused", "gone", "removed"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feeds_list)
    p = feeds.add_parser("remove", help="stop polling a feed (by id or URL)")
    p.add_argument("feed")
    p.set_defaults(func=cmd_feeds_remove)
    p = feeds.add_parser("pause", help="pause a feed (by id or URL)")
    p.add_argument("feed")
    p.add_argument("--reason")
    p.set_defaults(func=cmd_feeds_pause)
    p = feeds.add_parser("resume", help="resume a paused feed (by id or URL)")
    p.add_argument("feed")
    p.set_defaults(func=cmd_feeds_resume)
    p = feeds.add_parser("import-opml", help="add every feed of an OPML file")
    p.add_argument("file")
    p.set_defaults(func=cmd_feeds_import)
    p = feeds.add_parser("export-opml", help="write the feeds as OPML (to FILE or stdout)")
    p.add_argument("file", nargs="?")
    p.set_defaults(func=cmd_feeds_export)

    p = sub.add_parser("poll", help="one pass of every stage: poll, extract, probe, decide, edit")
    p.add_argument("--json", action="store_true",
                   help="print the pass report as one JSON document (progress goes to stderr)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_poll)

    p = sub.add_parser("run", help="run the daemon (scheduler, API, dashboard)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("ask", help="generate with the live model (base + memory)")
    p.add_argument("prompt")
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--no-memory", action="store_true", help="answer with the base model only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("demo", help="serve the bundled sample feeds on loopback and process them")
    p.add_argument("--data-dir", default=".memoird/demo")
    p.add_argument("--keep", action="store_true", help="keep the demo's earlier state")
    p.set_defaults(func=cmd_demo)

    edits = sub.add_parser("edits", help="the edit log").add_subparsers(
        dest="edits_command", metavar="ACTION", required=True)
    p = edits.add_parser("list", help="page through the edit log, newest first")
    p.add_argument("--status")
    p.add_argument("--subject")
    p.add_argument("--relation")
    p.add_argument("--since", help="only edits created at or after this ISO time (UTC)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_edits_list)
    p = edits.add_parser("show", help="one edit with its full provenance")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_edits_show)
    for name, text in (("approve", "approve a pending edit (it is applied next)"),
                       ("reject", "reject a pending edit"),
                       ("revert", "take an applied edit out of the model")):
        p = edits.add_parser(name, help=text)
        p.add_argument("id", type=int)
        p.add_argument("--reason")
        p.add_argument("--actor")
        p.set_defaults(func=_edit_action(name))

    from memoird.daemon.checkpoint_cli import register_cli

    register_cli(sub)  # distill, checkpoints list|show|activate|rollback|prune
    return parser


#: errors that mean "the operator's input is wrong": one line, exit status 2. Named, not
#: imported, so that `memoird feeds list` does not import torch just to catch ModelError.
USER_ERRORS = frozenset({
    "memoird.daemon.cli.CliError",
    "memoird.daemon.config.ConfigError",
    "memoird.store.errors.StoreError",
    "memoird.editor.model.ModelError",
    "memoird.editor.memory_io.MemoryFileError",
    "memoird.extractors.opml.OpmlError",
})


def _is_user_error(exc: BaseException) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" in USER_ERRORS for c in type(exc).__mro__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"memoird: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
