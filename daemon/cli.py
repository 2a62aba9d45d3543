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
import typing
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence


EXIT_USAGE = 2


class CliError(Exception):
    """An operator mistake: printed as one line, exit status 2."""


# ---------------------------------------------------------------- helpers


def _config_path(args: argparse.Namespace) -> Path | None:
    """``-c FILE``, else ./memoird.toml when present, else None (defaults and environment)."""
    if args.config:
        return Path(args.config)
    return Path("memoird.toml") if Path("memoird.toml").exists() else None


def _runtime(args: argparse.Namespace):
    from memoird.daemon.config import load_config
    from memoird.daemon.runtime import Runtime

    path = _config_path(args)
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
    """A feed by id or by URL: operators paste whichever they have.

    The URL may be the redacted form ``feeds list`` shows (``https://***@host/feed``).
    """
    from memoird.store import feeds
    from memoird.store.errors import NotFound

    if ref.isdigit():
        return feeds.get_feed(db, int(ref))
    try:
        return feeds.get_feed_by_url(db, ref)
    except NotFound:
        if f"{feeds.REDACTED}@" not in ref:
            raise
        matches = [f for status in ("active", "paused", "gone", "removed")
                   for f in feeds.list_feeds(db, status=status)
                   if feeds.redact_url(f.url) == ref.strip()]
        if len(matches) != 1:
            raise
        return matches[0]


# ---------------------------------------------------------------- init / status


def cmd_init(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    rt.paths.root.mkdir(parents=True, exist_ok=True)
    rt.db()
    engine = rt.engine
    print(f"data directory  {rt.paths.root}")
    print(f"database        {rt.paths.db}")
    c = engine.checkpoint
    loaded = (f"loaded in {engine.load_seconds:.1f} s"
              f"{', converted from GGUF' if engine.converted else ''}")
    if engine.is_base:
        print(f"base model      {engine.name}  (checkpoint {c.id}: {c.path}; {loaded})")
    else:  # a distilled (or other) checkpoint is active: named by its id, not as the base
        parent = f", distilled from checkpoint {c.parent_id}" if c.parent_id is not None else ""
        print(f"checkpoint      {c.id}{parent}: {c.path}  ({loaded})")
    print(f"memory          layer {engine.memory_layer}, {engine.edit_count} edits")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Load and validate the config (file and MEMOIRD_* variables), touching nothing."""
    from memoird.daemon.config import load_config

    path = _config_path(args)
    config = load_config(path)
    print(f"config ok: {path if path is not None else 'defaults (no config file)'}")
    print(f"  data directory  {Path(config.daemon.data_dir).expanduser().resolve()}")
    print(f"  model           {config.model.base} on {config.model.device}")
    print(f"  extraction      {config.extract.backend}"
          + (f" at {config.extract.endpoint}" if config.extract.backend == "openai" else ""))
    print(f"  api             http://{config.api.host}:{config.api.port}")
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
    print(f"added feed {feed.id}: {feeds.redact_url(feed.url)}")
    return 0


def cmd_feeds_list(args: argparse.Namespace) -> int:
    from memoird.store import feeds

    rt = _runtime(args)
    rows = [feeds.public_dict(f) for f in feeds.list_feeds(rt.db(), status=args.status)]
    if args.json:
        _print_json(rows)
        return 0
    _table(
        ["id", "status", "url", "title", "trust", "errors", "next check", "last error / reason"],
        [[f["id"], f["status"], f["url"], f["title"], f"{f['trust']:.2f}", f["error_count"],
          f["next_check_at"], f["paused_reason"] or f["last_error"]] for f in rows],
        title=f"{len(rows)} feeds",
    )
    return 0


def cmd_feeds_remove(args: argparse.Namespace) -> int:
    from memoird.store import feeds

    rt = _runtime(args)
    feed = _feed_ref(rt.db(), args.feed)
    feeds.remove_feed(rt.db(), feed.id)   # refuses a feed that is already removed
    print(f"removed feed {feed.id}: {feeds.redact_url(feed.url)} "
          "(its articles and edits are kept)")
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
    feed = actions.resume_feed(rt.db(), feed.id)   # refuses a removed feed
    print(f"feed {feed.id} is {feed.status}")
    return 0


IMPORT_HELP = """\
Add every feed outline (one with an xmlUrl) of an OPML file. Outlines that cannot be
added are skipped, each reported on its own line with the reason (an invalid URL,
credentials that an export redacted, a URL already present or repeated in the file),
followed by the count; all the others are added in ONE transaction, so an import is
never left half-done by a crash or an error: either every valid outline is added or,
if the database write fails, none is. Exit status 0 when the file was read, 2 when it
cannot be read or is not OPML (then nothing is added)."""


def cmd_feeds_import(args: argparse.Namespace) -> int:
    from memoird.extractors.opml import parse_opml_outlines
    from memoird.store import feeds
    from memoird.store.db import write_transaction
    from memoird.store.errors import Duplicate, InvalidValue

    rt = _runtime(args)
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read OPML file {path}: {exc.strerror}") from None
    entries = parse_opml_outlines(data, source=str(path))
    skipped: list[tuple[int, str, str]] = []   # (outline number, shown URL, why)
    seen: set[str] = set()
    added = present = 0
    db = rt.db()
    with write_transaction(db):
        for number, entry in enumerate(entries, 1):
            shown = feeds.redact_url(entry.url)
            if f"{feeds.REDACTED}@" in entry.url:
                skipped.append((number, shown, "its credentials were redacted on export "
                                "(export with --with-credentials, or add it by hand)"))
                continue
            if entry.url.strip() in seen:
                skipped.append((number, shown, "repeats an earlier outline of this file"))
                continue
            seen.add(entry.url.strip())
            try:
                feeds.add_feed(db, entry.url, title=entry.title, site_url=entry.site_url)
                added += 1
            except Duplicate as exc:
                present += 1
                skipped.append((number, shown, f"already present (feed {exc.existing_id})"))
            except InvalidValue as exc:
                skipped.append((number, shown, str(exc)))
    for number, shown, why in skipped:
        print(f"skipped outline {number} {shown}: {why}")
    invalid = len(skipped) - present
    print(f"imported {added} feeds from {path}; skipped {len(skipped)} outlines "
          f"({present} already present, {invalid} invalid)")
    return 0


def cmd_feeds_export(args: argparse.Namespace) -> int:
    from memoird.extractors.opml import OpmlFeed, export_opml
    from memoird.store import feeds

    shown = (lambda url: url) if args.with_credentials else feeds.redact_url
    target = None
    if args.file not in (None, "-"):
        target = Path(args.file)
        if target.is_dir():
            raise CliError(f"cannot write OPML to {target}: it is a folder")
        if not target.parent.is_dir():
            raise CliError(f"cannot write OPML to {target}: folder {target.parent} does "
                           "not exist (create it first)")
    rt = _runtime(args)
    rows = feeds.list_feeds(rt.db())
    outlines = [OpmlFeed(url=shown(f.url), title=f.title, site_url=shown(f.site_url))
                for f in rows]
    data = export_opml(outlines, title="memoird feeds")
    if target is None:
        sys.stdout.write(data.decode("utf-8"))
        return 0
    from memoird.store.atomic import atomic_write_bytes

    secret = any(feeds.has_credentials(f.url) for f in rows)
    try:
        # a file holding passwords is readable by its owner only, from its first byte
        atomic_write_bytes(target, data, make_parents=False,
                           mode=0o600 if args.with_credentials and secret else 0o644)
    except OSError as exc:
        raise CliError(f"cannot write OPML to {target}: {exc.strerror}") from None
    note = ""
    if secret:
        note = (" (with credentials: the file is readable by you only)" if args.with_credentials
                else " (credentials in URLs redacted; --with-credentials keeps them)")
    print(f"exported {len(outlines)} feeds to {target}{note}")
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
    prompt = args.prompt
    if not prompt.strip():
        raise CliError("ask: the prompt is empty (give the text to complete, e.g. "
                       "memoird ask \"The capital of France is\")")
    if args.max_tokens < 1:
        raise CliError(f"ask: --max-tokens {args.max_tokens} must be at least 1")
    rt = _runtime(args)
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
    from memoird.extractors.schema import label

    return [e.id, e.status, e.subject, label(e.relation), e.target, e.old_answer, e.updated_at]


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
    print(f"edit {edit['id']}  [{edit['status']}]  {edit['subject']} / "
          f"{edit['relation_label']} ({edit['relation']})")
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


#: one subcommand per entry of ``actions.EDIT_ACTIONS`` (named here so that building the
#: parser imports no store code; a test checks that the two agree)
EDIT_ACTION_HELP = {"approve": "approve a pending edit (it is applied next)",
                    "reject": "reject a pending edit",
                    "revert": "take an applied edit out of the model"}


def _edit_action(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from memoird.daemon import actions

        rt = _runtime(args)
        actor = args.actor or os.environ.get("USER") or "operator"
        edit = actions.EDIT_ACTIONS[name](rt, args.id, actor=actor,
                                          reason=args.reason or f"{name} from the CLI")
        print(f"edit {edit.id} is {edit.status}")
        return 0

    return run


# ---------------------------------------------------------------- parser


class Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line (``memoird feeds add: error: ...``), exit 2.

    The usage text is what ``--help`` is for; scripts and journald get one line that
    names the command and what was wrong with its arguments.
    """

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)} "
                              f"(see {self.prog} --help)\n")


CONFIG_HELP = ("TOML config (default: ./memoird.toml if present, else defaults and MEMOIRD_* "
               "environment variables); accepted before or after the subcommand")


def _config_everywhere(parser: argparse.ArgumentParser) -> None:
    """Accept ``-c/--config FILE`` after every subcommand too (``memoird run -c FILE``).

    The subcommands' option has no default (SUPPRESS), so it only overrides the value
    given before the subcommand when it is given itself.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if not any("--config" in a.option_strings for a in child._actions):
                    child.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP,
                                       default=argparse.SUPPRESS)
                _config_everywhere(child)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="memoird",
        description="Keep a language model's knowledge current with MEMOIR edits from news feeds.",
    )
    parser.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("init", help="create the data directory, database and base checkpoint")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("check-config", help="load and validate the config, then exit (0: ok, "
                       "2: one line naming the bad key and its file)")
    p.set_defaults(func=cmd_check_config)

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
    p = feeds.add_parser("remove", help="stop polling a feed for good (by id or URL); "
                         "removing it again is an error")
    p.add_argument("feed")
    p.set_defaults(func=cmd_feeds_remove)
    p = feeds.add_parser("pause", help="pause a feed (by id or URL)")
    p.add_argument("feed")
    p.add_argument("--reason")
    p.set_defaults(func=cmd_feeds_pause)
    p = feeds.add_parser("resume", help="resume a paused or gone feed (by id or URL); a "
                         "removed one is refused: add its URL again")
    p.add_argument("feed")
    p.set_defaults(func=cmd_feeds_resume)
    p = feeds.add_parser("import-opml", help="add every feed of an OPML file (valid ones in one "
                         "transaction; each skipped outline reported)", description=IMPORT_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file")
    p.set_defaults(func=cmd_feeds_import)
    p = feeds.add_parser("export-opml", help="write the feeds as OPML (to FILE or stdout); "
                         "credentials in URLs are redacted unless --with-credentials")
    p.add_argument("file", nargs="?", help="file to write; its folder must exist (default: stdout)")
    p.add_argument("--with-credentials", action="store_true",
                   help="keep user:password in feed URLs (the file is then made 0600)")
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
    for name, text in EDIT_ACTION_HELP.items():
        p = edits.add_parser(name, help=text)
        p.add_argument("id", type=int)
        p.add_argument("--reason")
        p.add_argument("--actor")
        p.set_defaults(func=_edit_action(name))

    from memoird.daemon.checkpoint_cli import register_cli

    register_cli(sub)  # distill, checkpoints list|show|activate|rollback|prune
    _config_everywhere(parser)
    return parser


#: errors that mean "the operator's input is wrong": one line, exit status 2. Named, not
#: imported, so that `memoird feeds list` does not import torch just to catch ModelError.
USER_ERRORS = frozenset({
    "memoird.daemon.cli.CliError",
    "memoird.daemon.config.ConfigError",
    "memoird.store.errors.StoreError",
    "memoird.editor.builtin_models.ModelError",
    "memoird.editor.memory_io.MemoryFileError",
    "memoird.extractors.opml.OpmlError",
    "memoird.daemon.checkpoint_switch.DistillJobError",
})


def _is_user_error(exc: BaseException) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" in USER_ERRORS for c in type(exc).__mro__)


def _one_line(message: object) -> str:
    """A message on one line: newlines (TOML and XML parsers add them) become spaces."""
    return " ".join(str(message).split())


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
        print(f"memoird: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
