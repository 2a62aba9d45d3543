"""CLI subcommands for distillation and the checkpoint registry.

    memoird distill [--force] [--no-activate] [--json]
    memoird checkpoints list [--json]
    memoird checkpoints show ID [--json]
    memoird checkpoints activate ID [--force]
    memoird checkpoints rollback [ID]
    memoird checkpoints prune [--keep N]

``daemon/cli.py`` calls ``register_cli(sub)`` with its subparsers. Switching checkpoints
from the shell while a daemon runs on the same data directory changes the registry under
it: the daemon picks the new active checkpoint up when it reloads (see distill_job).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _cli():
    from memoird.daemon import cli

    return cli


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_distill(args: argparse.Namespace) -> int:
    from memoird.daemon.distill_job import run_distillation

    rt = _cli()._runtime(args)
    outcome = run_distillation(rt, force=args.force, activate=not args.no_activate,
                               progress=not args.json)
    if args.json:
        _cli()._print_json(outcome.as_dict())
    else:
        print(f"{outcome.status}: {outcome.reason}")
        if outcome.gate:
            g = outcome.gate
            print(f"  reliability {g['reliability']:.3f}  locality {g['locality']:.3f}  "
                  f"perplexity drift {g['ppl_drift']:+.2%}  ({'passed' if g['passed'] else 'failed'})")
        if outcome.checkpoint_id is not None:
            print(f"  checkpoint {outcome.checkpoint_id}: {outcome.path}")
            print(f"  absorbed {len(outcome.absorbed)} edits, kept {len(outcome.kept)} in memory")
    return 0 if outcome.status != "candidate" or args.no_activate else 1


def cmd_list(args: argparse.Namespace) -> int:
    from memoird.daemon.distill_job import disk_usage
    from memoird.store import checkpoints as registry

    rt = _cli()._runtime(args)
    db = rt.db()
    usage = disk_usage(rt)
    sizes = {r["id"]: r for r in usage["checkpoints"]}
    items = registry.list_checkpoints(db)
    if args.json:
        _cli()._print_json({"items": [c.as_dict() | {"disk": sizes.get(c.id)} for c in items],
                            "usage": {k: v for k, v in usage.items() if k != "checkpoints"}})
        return 0
    rows = []
    for c in items:
        g = c.gate_metrics or {}
        gate = "" if not g else ("pass" if g.get("passed") else "FAIL") + (
            f" rel {g['reliability']:.2f} loc {g['locality']:.2f} ppl {g['ppl_drift']:+.1%}"
            if "reliability" in g else "")
        s = sizes.get(c.id, {})
        rows.append([c.id, c.status, c.parent_id, c.created_at[:19], len(c.edits_distilled), gate,
                     _size(s.get("folder_bytes", 0) + s.get("memory_bytes", 0))
                     if s.get("on_disk") else "deleted", Path(c.path).name])
    _cli()._table(["id", "status", "parent", "created", "edits", "gate", "disk", "folder"], rows,
                  title="checkpoints")
    print(f"total {_size(usage['total_bytes'])} (runs {_size(usage['runs_bytes'])}), "
          f"{_size(usage['free_bytes'])} free of {_size(usage['disk_bytes'])}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from memoird.daemon.distill_job import disk_usage
    from memoird.store import checkpoints as registry

    rt = _cli()._runtime(args)
    db = rt.db()
    c = registry.get_checkpoint(db, args.id)
    chain = [x.id for x in registry.lineage(db, c.id)]
    disk = next((r for r in disk_usage(rt)["checkpoints"] if r["id"] == c.id), None)
    value: dict[str, Any] = c.as_dict() | {"lineage": chain, "disk": disk}
    if args.json:
        _cli()._print_json(value)
        return 0
    for key in ("id", "status", "path", "parent_id", "created_at", "note"):
        print(f"{key:12} {value[key]}")
    print(f"{'lineage':12} {' <- '.join(map(str, chain))}")
    print(f"{'disk':12} {_size((disk or {}).get('folder_bytes'))}"
          f"{'' if (disk or {}).get('on_disk') else ' (folder deleted)'}")
    print(f"{'absorbed':12} {len(c.edits_distilled)} edits {c.edits_distilled[:20]}"
          f"{' ...' if len(c.edits_distilled) > 20 else ''}")
    if c.gate_metrics:
        print("gate         " + json.dumps(c.gate_metrics, indent=2).replace("\n", "\n             "))
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    from memoird.daemon.distill_job import switch_checkpoint
    from memoird.store import checkpoints as registry

    cli = _cli()
    rt = cli._runtime(args)
    c = registry.get_checkpoint(rt.db(), args.id)
    if c.gate_metrics and not c.gate_metrics.get("passed", True) and not args.force:
        raise cli.CliError(f"checkpoint {c.id} failed its gate ({'; '.join(c.gate_metrics.get('reasons', []))}); "
                           "pass --force to activate it anyway")
    result = switch_checkpoint(rt, c.id, actor=args.actor or "operator",
                               reason=args.reason or f"operator activated checkpoint {c.id}")
    _report_switch(result)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from memoird.daemon.distill_job import rollback

    rt = _cli()._runtime(args)
    result = rollback(rt, args.id, actor=args.actor or "operator", reason=args.reason)
    _report_switch(result)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from memoird.daemon.distill_job import apply_retention

    rt = _cli()._runtime(args)
    keep = args.keep if args.keep is not None else rt.config.distill.keep_checkpoints
    removed = apply_retention(rt, keep)
    print(f"deleted the folders of checkpoints {removed}" if removed else "nothing to delete")
    return 0


def _report_switch(result: dict) -> None:
    if result.get("unchanged"):
        print(f"checkpoint {result['checkpoint_id']} is already active")
        return
    print(f"checkpoint {result['checkpoint_id']} is active (was {result['previous_id']}); its "
          f"memory holds {len(result['kept'])} edits, its weights {len(result['absorbed'])}")


def register_cli(sub) -> None:
    """Add ``distill`` and ``checkpoints`` to the ``memoird`` subcommands."""
    p = sub.add_parser("distill", help="fold the memory into a new base checkpoint (gated)")
    p.add_argument("--force", action="store_true",
                   help="run below [distill] min_edits, or redo a snapshot that failed its gate")
    p.add_argument("--no-activate", action="store_true",
                   help="write and gate the candidate but leave the active checkpoint")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_distill)

    ck = sub.add_parser("checkpoints", help="the checkpoint registry: lineage, rollback, disk"
                        ).add_subparsers(dest="checkpoints_command", metavar="ACTION", required=True)
    p = ck.add_parser("list", help="checkpoints newest first, with gate results and disk use")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = ck.add_parser("show", help="one checkpoint: lineage, gate report, absorbed edits")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)
    p = ck.add_parser("activate", help="make a checkpoint active (memory rebuilt for it)")
    p.add_argument("id", type=int)
    p.add_argument("--force", action="store_true", help="activate even if it failed its gate")
    p.add_argument("--actor")
    p.add_argument("--reason")
    p.set_defaults(func=cmd_activate)
    p = ck.add_parser("rollback", help="activate the active checkpoint's parent (or ID)")
    p.add_argument("id", type=int, nargs="?")
    p.add_argument("--actor")
    p.add_argument("--reason")
    p.set_defaults(func=cmd_rollback)
    p = ck.add_parser("prune", help="delete old checkpoint folders beyond [distill] "
                      "keep_checkpoints (never the active one or its parent)")
    p.add_argument("--keep", type=int)
    p.set_defaults(func=cmd_prune)
