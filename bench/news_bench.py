"""News to edits, end to end: a hand-written set of real 2022-2025 changes, served as RSS
feeds on loopback, through the real daemon pipeline with default settings.

    python bench/news_bench.py                      # bench/news_dev/dev.json, reading extractor
    python bench/news_bench.py --dataset dev2       # feature style: passive, indirect, late facts
    python bench/news_bench.py --dataset dev3       # wire dateline and live-blog styles
    python bench/news_bench.py --dataset holdout    # the held-out set (never tuned on)
    python bench/news_bench.py --method triples     # free triple generation, for comparison
    python bench/news_bench.py --extractor-model gemma3-270m   # another model reads the news

The dev set (bench/news_dev/) says, per item, the change its articles report, a cloze, a
question, a neighbour (same relation, other subject) and its kind: a change reported by two
outlets, a one-outlet rumour, or a restatement of something that did not change. The daemon
never reads it: it only sees the feeds. Afterwards the benchmark reads the edit log and asks
the live model, as a user would:

- an applied edit is *correct* when its subject, relation and object are the item's change
  (subject or object under any of the item's names), *wrong* otherwise; edits from rumours
  and restatements are counted apart;
- per change: the cloze, the question through the chat template (what
  /v1/chat/completions renders) and the same question after a system prompt and one
  earlier exchange answer the new object; the neighbour's cloze and question answer
  exactly as before.

Writes bench/results/news_bench.json: one summary row per run and one row per item (with
what the daemon made of the item: each claim about its subject and relation, its sources,
status, edit and, when held, why).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import html
import http.server
import json
import re
import shutil
import sys
import tempfile
import threading
import time
import unicodedata
from collections import defaultdict
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS, meta, write_results  # noqa: E402

DATA = REPO / "bench" / "news_dev"
RELATIONS = {"head of government": "P6", "head of state": "P35", "head coach": "P286",
             "chief executive officer": "P169", "member of sports team": "P54",
             "owned by": "P127", "capital": "P36", "currency": "P38"}
SYSTEM = "You are a helpful assistant. Answer in one short sentence."
EARLIER = ("Can you help me with some current affairs?",
           "Of course. What would you like to know?")


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", (text or "").casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def names(item: dict, side: str) -> list[str]:
    main = item["subject"] if side == "subject" else item["object"]
    return [main, *(item.get(f"{side}_aliases") or [])]


def same(name: str, candidates: list[str]) -> bool:
    """The name is one of the candidates, an article aside ("Crimson Tide" is the
    dataset's "the Crimson Tide"), or the words "men's" and "national" aside: a national
    team is the men's unless it says otherwise ("Australia national cricket team" is the
    dataset's "Australia men's national cricket team", "England national cricket team"
    its "England cricket team")."""
    def key(text: str) -> str:
        return re.sub(r"\b(?:men s|national) ", "", re.sub(r"^the ", "", fold(text)))
    return any(key(name) == key(c) for c in candidates)


def mentions(answer: str, candidates: list[str]) -> bool:
    """The answer names the object (full name, an alias, or a full name's last word)."""
    text = f" {fold(answer)} "
    for c in candidates:
        key = fold(c)
        if key and f" {key} " in text:
            return True
        words = key.split()
        if len(words) > 1 and len(words[-1]) > 3 and f" {words[-1]} " in text:
            return True
    return False


# -- feeds ------------------------------------------------------------------------------

def write_feeds(dataset: dict, folder: Path) -> list[str]:
    """One RSS file per outlet; each article links to its outlet's own domain."""
    by_outlet: dict[str, list[tuple[dict, dict, int]]] = defaultdict(list)
    for item in dataset["items"]:
        for n, article in enumerate(item["articles"]):
            by_outlet[article["outlet"]].append((item, article, n))
    domains = {o["name"]: o["domain"] for o in dataset["outlets"]}
    files = []
    for outlet, entries in by_outlet.items():
        slug = re.sub(r"[^a-z0-9]+", "-", outlet.lower()).strip("-")
        items_xml = []
        for item, article, n in entries:
            link = f"https://{domains[outlet]}/news/{item['id']}-{n}"
            when = datetime.fromisoformat(article["published"].replace("Z", "+00:00"))
            body = "".join(f"<p>{html.escape(p.strip())}</p>"
                           for p in article["text"].split("\n\n") if p.strip())
            items_xml.append(
                f"<item><title>{html.escape(article['title'])}</title><link>{link}</link>"
                f"<guid>{link}</guid><pubDate>{format_datetime(when)}</pubDate>"
                f"<description>{html.escape(body)}</description></item>")
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
               f"<title>{html.escape(outlet)}</title><link>https://{domains[outlet]}/</link>"
               f"<description>news</description>{''.join(items_xml)}</channel></rss>")
        (folder / f"{slug}.xml").write_text(xml, encoding="utf-8")
        files.append(f"{slug}.xml")
    return files


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


# -- asking the model -------------------------------------------------------------------

def ask_all(engine, items: list[dict]) -> dict[str, dict[str, str]]:
    """Greedy answers of the live model to each item's cloze, question (chat), question
    after a system prompt and an earlier turn, and neighbour cloze and question."""
    tok = engine.tokenizer

    def chat(messages):
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    prompts: dict[tuple[str, str], str] = {}
    for item in items:
        q = item["question"]
        prompts[(item["id"], "cloze")] = item["cloze"]
        prompts[(item["id"], "question")] = chat([{"role": "user", "content": q}])
        prompts[(item["id"], "chat")] = chat([
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": EARLIER[0]},
            {"role": "assistant", "content": EARLIER[1]},
            {"role": "user", "content": q}])
        if item.get("alias_question"):
            prompts[(item["id"], "alias")] = chat([{"role": "user",
                                                    "content": item["alias_question"]}])
        prompts[(item["id"], "neighbour_cloze")] = item["neighbour_cloze"]
        if item.get("neighbour_question"):
            prompts[(item["id"], "neighbour_question")] = chat(
                [{"role": "user", "content": item["neighbour_question"]}])
    keys = list(prompts)
    answers: dict[str, dict[str, str]] = defaultdict(dict)
    for start in range(0, len(keys), 32):
        chunk = keys[start:start + 32]
        outs = engine.generate([prompts[k] for k in chunk], max_new_tokens=12)
        for (item_id, kind), text in zip(chunk, outs):
            answers[item_id][kind] = " ".join(text.split())
    return answers


# -- the run ----------------------------------------------------------------------------

def run(args) -> list[dict]:
    path = Path(args.dataset) if args.dataset.endswith(".json") else DATA / f"{args.dataset}.json"
    dataset = json.loads(path.read_text(encoding="utf-8"))
    items = dataset["items"]
    # a data dir of our own holds a converted checkpoint (about 0.5 GB for SmolLM2):
    # removed at the end unless asked for by --data-dir
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="news-bench-"))
    if data_dir.exists() and not args.keep:
        shutil.rmtree(data_dir)
    try:
        return _run(args, path, dataset, items, data_dir)
    finally:
        if not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def _run(args, path: Path, dataset: dict, items: list[dict], data_dir: Path) -> list[dict]:
    from memoird.daemon.config import load_config
    from memoird.daemon.runtime import Runtime
    from memoird.store import claims as claim_store
    from memoird.store import edits as edit_log
    from memoird.store import feeds as feed_store

    env = {"MEMOIRD_DAEMON_DATA_DIR": str(data_dir),
           "MEMOIRD_FEEDS_ALLOW_NETWORKS": '["127.0.0.0/8"]',
           "MEMOIRD_EXTRACT_METHOD": args.method}
    if args.extractor_model:
        env["MEMOIRD_EXTRACT_LOCAL_MODEL"] = args.extractor_model
    rt = Runtime(load_config(None, env=env))
    engine = rt.engine
    # the base model's answers, before any edit, cached per data set and model (they
    # depend on nothing else, and asking takes minutes on 2 cores)
    digest = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:12]
    cache = REPO / ".cache" / "news-bench" / f"before-{path.stem}-{engine.name}-{digest}.json"
    if cache.exists():
        before = json.loads(cache.read_text())
    else:
        before = ask_all(engine, items)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(before))
    feed_dir = Path(tempfile.mkdtemp(prefix="news-feeds-"))
    files = write_feeds(dataset, feed_dir)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(feed_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    db = rt.db()
    for name in files:
        feed_store.add_feed(db, f"{base}/{name}", trust=0.8)
    started = time.perf_counter()
    rt.pipeline.run_until_idle(progress=not args.quiet, max_passes=10)
    ingest_s = time.perf_counter() - started
    server.shutdown()
    shutil.rmtree(feed_dir, ignore_errors=True)
    after = ask_all(engine, items)

    applied = edit_log.list_edits(db, status="applied", limit=10_000)
    by_id = {i["id"]: i for i in items}
    rows, verdicts = [], defaultdict(int)
    matched: dict[str, list[int]] = defaultdict(list)
    for edit in applied:
        hit = next((i for i in items if RELATIONS.get(i["relation"]) == edit.relation
                    and same(edit.subject, names(i, "subject"))
                    and (same(edit.target, names(i, "object"))
                         or mentions(edit.target, names(i, "object")))), None)
        if hit is None:
            verdicts["wrong"] += 1
            print(f"WRONG edit {edit.id}: {edit.subject} / {edit.relation} -> {edit.target}",
                  file=sys.stderr)
            continue
        matched[hit["id"]].append(edit.id)
        verdicts[{"change": "correct", "rumour": "poison",
                  "restatement": "agree"}[hit["kind"]]] += 1
    changes = [i for i in items if i["kind"] == "change"]
    counts = defaultdict(int)
    why = {row["id"]: f"{row['rule']}: {row['why']}" for row in claim_store.held_claims(db, 10_000)}
    claims = claim_store.list_claims(db, limit=100_000)

    def claims_for(item: dict) -> list[str]:
        """What the daemon made of an item's subject and relation, for error analysis:
        each claim's object, source domains, status and (when held) why."""
        def edit_status(c) -> str:
            if c.edit_id is None:
                return ""
            edit = edit_log.get_edit(db, c.edit_id)
            failed = {k: v for k, v in (edit.verification or {}).items()
                      if k in ("passed", "reason", "error", "failed")}
            return f", edit {edit.id} {edit.status}" + (
                f" {failed}"[:300] if edit.status != "applied" and failed else "")
        return [f"{c.object} [{c.domain_count} src, {c.status}{edit_status(c)}]"
                + (f" {why[c.id][:400]}" if c.id in why else "")
                for c in claims if c.relation == RELATIONS.get(item["relation"])
                and same(c.subject, names(item, "subject"))]
    for item in items:
        b, a = before[item["id"]], after[item["id"]]
        objects = names(item, "object")
        row = {"kind": "item", "dataset": path.stem, "method": args.method, "id": item["id"],
               "item_kind": item["kind"], "relation": item["relation"],
               "edits": len(matched.get(item["id"], [])),
               "cloze_before": mentions(b["cloze"], objects),
               "cloze_after": mentions(a["cloze"], objects),
               "question_after": mentions(a["question"], objects),
               "chat_after": mentions(a["chat"], objects),
               "alias_after": mentions(a["alias"], objects) if "alias" in a else None,
               "neighbours_unchanged": all(a[k] == b[k] for k in a if k.startswith("neighbour")),
               "answer_after": a["question"][:60], "claims": claims_for(item)}
        rows.append(row)
        if item["kind"] == "change":
            counts["edited"] += bool(row["edits"])
            for key in ("cloze_before", "cloze_after", "question_after", "chat_after"):
                counts[key] += row[key]
            counts["alias_asked"] += row["alias_after"] is not None
            counts["alias_after"] += bool(row["alias_after"])
        counts["neighbours"] += row["neighbours_unchanged"]
    n = len(changes)
    summary = {
        "kind": "summary", "dataset": path.stem, "extractor": args.extractor_model or engine.name,
        "method": args.method, "items": len(items), "changes": n,
        "edits_applied": len(applied), "edits_correct": verdicts["correct"],
        "edits_wrong": verdicts["wrong"], "changes_edited": counts["edited"],
        "cloze_new_before": counts["cloze_before"], "cloze_new": counts["cloze_after"],
        "question_new": counts["question_after"], "chat_new": counts["chat_after"],
        "alias_new": f"{counts['alias_after']}/{counts['alias_asked']}",
        "neighbours_unchanged": round(counts["neighbours"] / max(1, len(items)), 3),
        "poison_edits": verdicts["poison"], "agree_edits": verdicts["agree"],
        "ingest_s": round(ingest_s, 1)}
    rt.close()
    return [summary, *rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="dev", help="dev, holdout or a JSON path")
    parser.add_argument("--method", default="reading", choices=("reading", "triples"))
    parser.add_argument("--extractor-model", default="",
                        help="a built-in alias for the local extractor (default: the edited model)")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--name", default="news_bench")
    args = parser.parse_args()
    rows = run(args)
    print(json.dumps(rows[0], indent=1))
    run_key = (rows[0]["dataset"], rows[0]["method"], rows[0]["extractor"])
    path = RESULTS / f"{args.name}.json"
    kept = []
    if path.exists():
        kept = [r for r in json.loads(path.read_text())["rows"]
                if (r.get("dataset"), r.get("method"), r.get("extractor", run_key[2])) != run_key]
    command = " ".join(["python bench/news_bench.py", *sys.argv[1:]])
    for row in rows:
        row["extractor"] = run_key[2]
        row["command"], row["commit"] = command, meta()["commit"]
    write_results(args.name, kept + rows, extra_meta={
        "command": "merged: one summary row and one row per item for each dataset, method "
                   "and extractor; each row names its command and commit"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
