"""The long-running daemon: HTTP API, scheduler, systemd notifications, graceful stop.

Start-up order, chosen so an orchestrator always knows where the process stands:

1. logging, the database (migrated), the HTTP server: ``/healthz`` answers at once and
   ``/readyz`` says "model loading" (503) during the next step;
2. the live model (base checkpoint + memory), loaded in a worker thread so a SIGTERM
   during a slow first-start conversion still stops the process promptly;
3. the scheduler (every queue resumes from the database), then ``READY=1`` and the
   watchdog pings, which continue only while the scheduler reports healthy.

SIGTERM (or SIGINT) sends ``STOPPING=1``, stops scheduling and the HTTP server, and
cancels the background work in hand: it ends at its next pause point, between two
decoding steps of a reading or probe batch, two training steps of an edit or of a
distillation (daemon/priority.py), leaving its record with the status it had. In-flight
requests get the same ``stop_timeout`` seconds. Work still running after that (a slow
fetch, a step that cannot be cut) is abandoned with ``os._exit``: stages commit a
record's new status only once it is done, in one transaction, and the memory file is
replaced atomically, so the abandoned record is redone at the next start. The process
exits 0 either way: systemd treats a clean stop as a success and does not restart a unit
that was asked to stop.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from memoird.daemon.batching import Batcher
from memoird.daemon.logs import setup_logging
from memoird.daemon.metrics import Metrics
from memoird.daemon.notify import Notifier
from memoird.daemon.scheduler import Scheduler, SchedulerSettings

log = logging.getLogger(__name__)

#: seconds a stop waits for cancelled stages and in-flight requests before abandoning
#: them: the process is gone within 5 s of SIGTERM, far below systemd's TimeoutStopSec
DEFAULT_STOP_TIMEOUT = 3.0


def scheduler_settings(config: Any) -> SchedulerSettings:
    """Scheduler settings from the config: ``[scheduler]`` when the config has one,
    else the defaults; the distillation slot comes from ``[distill] schedule``."""
    settings = SchedulerSettings()
    section = getattr(config, "scheduler", None)
    for name in ("tick_seconds", "stage_seconds", "max_failures", "stuck_after", "max_drain"):
        value = getattr(section, name, None) if section is not None else None
        if value is not None:
            setattr(settings, name, value)
    distill = getattr(config, "distill", None)
    settings.distill_cron = getattr(distill, "schedule", "") or None
    return settings


def cpu_threads(setting: int) -> int:
    """Give torch ``setting`` CPU threads (0: half the cores, at least one) and return it.

    Requests and the background reading run side by side (daemon/priority.py), each in
    its own thread with this many torch threads: on 2 cores, one each. A small model's
    decoding is made of many small operations and barely gains from a second thread, so
    two workloads side by side get far more done than one with every core (measured in
    bench/api_bench.py)."""
    import torch

    threads = setting or max(1, (os.cpu_count() or 2) // 2)
    torch.set_num_threads(threads)
    return threads


def model_id(root: str, checkpoint_id: int | None, generation: int) -> str:
    """``<name>:checkpoint-<registry id>:memory-<generation>``: which weights answered."""
    if checkpoint_id is None:
        return f"{root}:memory-{generation}"
    return f"{root}:checkpoint-{checkpoint_id}:memory-{generation}"


class Service:
    """What the API and the scheduler share in one daemon process."""

    def __init__(self, rt: Any, environ: dict[str, str] | None = None,
                 notifier: Notifier | None = None):
        env = os.environ if environ is None else environ
        self.rt = rt
        self.token_env = rt.config.api.token_env
        self.token = env.get(self.token_env) or None
        self.openai_token_env = rt.config.api.openai_token_env
        self.openai_token = (env.get(self.openai_token_env) or "").strip() or None
        self.started_at = time.time()
        self.engine_loaded = False
        self.stopping = False
        self.generator: Batcher | None = None
        self.scheduler: Scheduler | None = None
        self.notifier = notifier or Notifier(env)
        self.metrics = Metrics(db_factory=rt.db, memory_stats=self.memory_stats)

    # -- what the API asks -----------------------------------------------------------

    @property
    def engine(self) -> Any:
        return self.rt.engine

    @property
    def model_name(self) -> str:
        if self.engine_loaded:
            name = getattr(self.engine, "name", None)
            if name:
                return str(name)
        return str(self.rt.config.model.base)

    def model_card(self) -> dict[str, Any]:
        """The live model as ``/v1/models`` shows it: an id naming the base checkpoint and
        the memory generation (``smollm2-135m-instruct:checkpoint-1:memory-7``), the plain
        name as ``root``, and every name a request's ``model`` may use for it."""
        root = self.model_name
        checkpoint = getattr(self.engine, "checkpoint", None)
        checkpoint_id = getattr(checkpoint, "id", None)
        generation = self.memory_stats().get("generation", 0)
        aliases = [root, str(self.rt.config.model.base)]
        if checkpoint is not None and getattr(checkpoint, "path", None):
            aliases.append(Path(str(checkpoint.path)).name)
        return {"id": model_id(root, checkpoint_id, generation), "root": root,
                "checkpoint": checkpoint_id, "memory_generation": generation,
                "aliases": list(dict.fromkeys(a for a in aliases if a))}

    def model_id(self, generation: int | None = None) -> str:
        """The live model's id; ``generation``: the memory generation that answered."""
        card = self.model_card()
        if generation is None:
            return card["id"]
        return model_id(card["root"], card["checkpoint"], generation)

    def accepts_model(self, name: str | None) -> bool:
        """Whether a request's ``model`` names the live model: its id, its plain name or
        checkpoint folder, or an id of the active checkpoint with another memory generation
        (the memory changes with every edit; a client that read the id a few edits ago is
        still asking for this model)."""
        if name is None:
            return True
        card = self.model_card()
        if name == card["id"] or name in card["aliases"]:
            return True
        root, _, version = name.partition(":")
        match = re.fullmatch(r"checkpoint-(\d+):memory-\d+", version)
        return (match is not None and root in card["aliases"]
                and card["checkpoint"] is not None and int(match.group(1)) == card["checkpoint"])

    @property
    def tokenizer(self) -> Any:
        return self.engine.tokenizer

    def memory_stats(self) -> dict[str, Any]:
        return dict(self.engine.memory_stats() or {}) if self.engine_loaded else {}

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)

    def stream(self, prompt: str | Sequence[int], max_tokens: int, temperature: float,
               stop: Sequence[str], cancel: threading.Event | None = None,
               **options: Any) -> Iterator[Any]:
        """One streamed completion: ``Delta`` objects (daemon/completion.py)."""
        return self.engine.stream_completion(prompt, max_new_tokens=max_tokens,
                                             temperature=temperature, stop=list(stop),
                                             cancel=cancel, **options)

    def wake(self, job: str) -> None:
        """Run a scheduler job now (after an approval, a new feed...), if it exists."""
        if self.scheduler is not None and job in self.scheduler.health:
            self.scheduler.run_now(job)

    def healthy(self) -> bool:
        return self.engine_loaded and self.scheduler is not None and self.scheduler.healthy()

    # -- lifecycle -------------------------------------------------------------------

    def engine_ready(self) -> None:
        """The model is loaded: open completions and start the stage jobs."""
        self.open_completions()
        self.start_scheduler()

    def open_completions(self) -> None:
        engine = self.engine
        self.engine_loaded = True

        def generate(prompts: list[Any], max_tokens: int, temperature: float,
                     stop: list[str], **options: Any) -> list[Any]:
            return engine.complete(prompts, max_new_tokens=max_tokens,
                                   temperature=temperature, stop=stop, **options)

        self.generator = Batcher(generate)

    def start_scheduler(self) -> None:
        distill = getattr(self.rt.pipeline, "distill", None)
        self.scheduler = Scheduler(self.rt.pipeline, scheduler_settings(self.rt.config),
                                   distill=distill, metrics=self.metrics)
        self.scheduler.start()

    def stop_scheduler(self, timeout: float) -> bool:
        """Stop the stage jobs and cancel their model work between two steps; False when
        a stage call was still running after ``timeout`` (the caller abandons it).

        ``/readyz`` turns 503 at once so a load balancer sends new clients elsewhere.
        """
        self.stopping = True
        if self.engine_loaded:
            self.engine.cancel_background()
        if self.scheduler is None:
            return True
        idle = self.scheduler.stop(timeout)
        if not idle:
            log.warning("abandoning running stage calls %s after %.0f s; their records "
                        "keep their status and are redone at the next start",
                        self.scheduler.busy, timeout,
                        extra={"abandoned": self.scheduler.busy})
        return idle

    def close_completions(self, timeout: float = 5.0) -> bool:
        """Stop the completion batcher; False if a generation outlived ``timeout``."""
        if self.generator is not None:
            return self.generator.close(timeout)
        return True


def run_service(rt: Any, stop_timeout: float = DEFAULT_STOP_TIMEOUT) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the exit status (0 on a clean stop)."""
    import uvicorn

    from memoird.daemon.api import create_app

    config = rt.config
    setup_logging(config.daemon.log_level, json_lines=config.daemon.log_format == "json")
    # progress bars (model loading, encoders) would interleave with the JSON log lines
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    threads = cpu_threads(config.daemon.threads)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    service = Service(rt)
    rt.db()  # migrate now: a broken database fails the start, not the first request
    if service.token is None:
        log.warning("no API token in $%s: edit and feed actions are disabled",
                    service.token_env)
    if service.openai_token is None:
        log.info("no token in $%s: /v1/* (the OpenAI-compatible API) is open to every client "
                 "that reaches %s:%s", service.openai_token_env, config.api.host, config.api.port)

    server = uvicorn.Server(uvicorn.Config(
        create_app(service), host=config.api.host, port=config.api.port, log_config=None,
        timeout_graceful_shutdown=max(1, int(stop_timeout)), server_header=False))
    http = threading.Thread(target=server.run, name="http", daemon=True)
    http.start()
    while not server.started and http.is_alive() and not stop.wait(0.05):
        pass
    if not server.started:
        if stop.is_set():
            return 0
        log.error("HTTP server did not start on %s:%s", config.api.host, config.api.port)
        return 1
    log.info("listening on http://%s:%s", config.api.host, config.api.port,
             extra={"host": config.api.host, "port": config.api.port})
    service.notifier.status("loading the model")

    loaded = threading.Event()
    failure: list[BaseException] = []

    def load() -> None:
        try:
            service.engine  # noqa: B018 (loads the model on first access)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            loaded.set()

    threading.Thread(target=load, name="model-load", daemon=True).start()
    while not loaded.wait(0.2):
        if stop.is_set():
            log.info("stopped while the model was loading")
            server.should_exit = True
            http.join(10)
            return 0
    if failure:
        log.error("cannot load the model: %s", failure[0], exc_info=failure[0])
        server.should_exit = True
        http.join(10)
        return 1

    service.engine_ready()
    service.notifier.ready(f"serving {service.model_name} on {config.api.host}:{config.api.port}")
    service.notifier.start_watchdog(service.healthy)
    log.info("ready", extra={"model": service.model_name, "torch_threads": threads})

    while not stop.wait(1.0):
        if not http.is_alive():
            log.error("the HTTP server stopped unexpectedly")
            break

    service.notifier.stopping()
    service.notifier.stop_watchdog()
    deadline = time.monotonic() + stop_timeout
    server.should_exit = True  # in-flight requests get until the deadline
    idle = service.stop_scheduler(stop_timeout)
    http.join(max(0.0, deadline - time.monotonic()))
    served = service.close_completions(max(0.0, deadline - time.monotonic()))
    clean = idle and served and not http.is_alive()
    log.info("stopped", extra={"clean": clean})
    if not clean:
        # abandoned stage threads would keep the interpreter alive until they finish
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    rt.close()
    # The interpreter's last garbage collection walks every object torch and transformers
    # made (1.5-2 s on 2 cores): nothing is left to collect that matters, so skip it.
    gc.freeze()
    return 0 if stop.is_set() else 1  # not asked to stop: the HTTP server died
