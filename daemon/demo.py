"""`memoird demo`: the whole pipeline on the bundled sample feeds, served on loopback.

The sample feeds report real-world changes (Croatia's currency, Indonesia's and Kazakhstan's
capitals) from two
independent news domains, so the default confirmation policy (two domains) lets them
through, plus stories that agree with what the model already knows (Paris). The demo prints
every stage and the model's greedy answer before and after each edit, and checks that an
unrelated prompt answers exactly as before.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.table import Table

SAMPLE_FEEDS = ("adriatic-wire.xml", "globe-dispatch.xml")
UNRELATED_PROMPTS = (
    "The capital of France is",
    "The highest mountain in the world is",
    "The founder of Microsoft is",
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the demo prints its own progress
        pass


@contextmanager
def serve_sample_feeds() -> Iterator[str]:
    """Serve the packaged sample feeds from a loopback HTTP server; yields its base URL."""
    folder = resources.files("memoird.daemon") / "sample_feed"
    with resources.as_file(folder) as path:
        handler = functools.partial(_QuietHandler, directory=str(path))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def demo_config(data_dir: Path):
    """The default config, pointed at the demo's data directory and allowed onto loopback."""
    from memoird.daemon.config import load_config

    return load_config(None, env={
        "MEMOIRD_DAEMON_DATA_DIR": str(data_dir),
        "MEMOIRD_FEEDS_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        "MEMOIRD_FEEDS_MIN_INTERVAL_S": "60",
    })


def run_demo(data_dir: Path, keep: bool = False) -> int:
    from memoird.daemon.runtime import Runtime
    from memoird.store import edits, feeds
    from memoird.store.records import EditStatus

    console = Console()
    if data_dir.exists() and not keep:
        shutil.rmtree(data_dir)
    rt = Runtime(demo_config(data_dir))
    started = time.perf_counter()
    console.rule("[bold]memoird demo")
    console.print(f"data directory: {rt.paths.root}")
    with console.status("loading the embedded model (the first run converts the GGUF once)"):
        engine = rt.engine
    console.print(f"model {engine.name}: loaded in {engine.load_seconds:.1f} s"
                  f"{' (converted from GGUF)' if engine.converted else ''}; "
                  f"MEMOIR memory on layer {engine.memory_layer}")

    before = {p: engine.generate([p], max_new_tokens=12)[0] for p in UNRELATED_PROMPTS}
    with serve_sample_feeds() as base_url:
        db = rt.db()
        for name in SAMPLE_FEEDS:
            url = f"{base_url}/{name}"
            # A kept demo served the same feed on another port: move it, keep its articles.
            earlier = [f for f in feeds.list_feeds(db) if f.url.endswith(f"/{name}")]
            if earlier:
                feeds.update_feed(db, earlier[0].id, url=url, next_check_at=None)
            else:
                feeds.add_feed(db, url, trust=0.8)
            console.print(f"feed: {url}")
        report = rt.pipeline.run_until_idle(progress=True, console=console)

    applied = edits.list_edits(rt.db(), status=EditStatus.APPLIED, limit=1000)
    table = Table("edit", "prompt", "before (base model)", "after (base + memory)",
                  title="Applied edits")
    for edit in reversed(applied):
        old = engine.generate([edit.prompt], max_new_tokens=12, use_memory=False)[0]
        new = engine.generate([edit.prompt], max_new_tokens=12)[0]
        table.add_row(str(edit.id), edit.prompt, old.strip(), new.strip())
    console.print(table)

    unchanged = Table("unrelated prompt", "before", "after", "identical", title="Locality")
    all_same = True
    for prompt, old in before.items():
        new = engine.generate([prompt], max_new_tokens=12)[0]
        all_same &= new == old
        unchanged.add_row(prompt, old.strip(), new.strip(), "yes" if new == old else "NO")
    console.print(unchanged)
    console.print(f"stages: {report}")
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s with "
                  f"{len(applied)} applied edits; unrelated answers identical: {all_same}")
    console.print(f"try: memoird -c <config> ask \"{applied[0].prompt if applied else 'The capital of Indonesia is'}\" "
                  f"(MEMOIRD_DAEMON_DATA_DIR={rt.paths.root})")
    rt.close()
    return 0 if applied and all_same else 1
