"""Structured logs: one JSON object per line on stderr (or plain text with the same fields).

journald, Docker and every log shipper read stderr; one JSON object per line lets them
index fields (``edit_id``, ``feed_id``, ``stage``...) instead of parsing prose. Fields
passed with ``log.info("...", extra={"edit_id": 3})`` become top-level keys. The text
format (``[daemon] log_format = "text"``) shows the same fields as ``key=value`` after
the message, so a developer's terminal still says which feed failed and why. uvicorn's
loggers go through the same handler (the daemon starts uvicorn with ``log_config=None``),
so an operator greps one stream.

Credentials in URLs (``https://user:password@host/feed``) never reach a log line: both
formats replace them with ``***@`` in the finished line, whatever field carried them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from memoird.store.feeds import redact_text

#: attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                        "taskName"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a call passed with ``extra=``, in the order given."""
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: ts, level, logger, msg, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact_text(json.dumps(entry, default=str, ensure_ascii=False))


def _text_value(value: Any) -> str:
    """A field value for ``key=value``: bare when it is one simple word, else JSON-quoted."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    text = str(value)
    if text and not any(c.isspace() or c in '"=\\' for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``, then the traceback on the next lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        fields = extra_fields(record)
        if fields:
            line += " " + " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return redact_text(line)


def setup_logging(level: str | int = "INFO", *, json_lines: bool = True,
                  stream: TextIO | None = None) -> logging.Handler:
    """Route the root logger (and uvicorn's, APScheduler's) to one stderr handler.

    Replaces handlers installed earlier, so calling it twice does not duplicate lines.
    ``json_lines=False`` gives plain text for a developer's terminal.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        child = logging.getLogger(name)
        child.handlers.clear()
        child.propagate = True
    # APScheduler logs every job run at INFO, and a warning whenever a long stage run makes
    # it skip the job's next interval (expected: max_instances=1); the stage jobs and the
    # scheduler's own failure handling log what matters.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    # Library deprecation notices (warnings.warn) and transformers' own stderr handler
    # would write plain-text lines into the JSON stream; both go through this handler.
    logging.captureWarnings(True)
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # the service without the local model backend installed
        pass
    else:
        hf_logging.disable_default_handler()
        hf_logging.enable_propagation()
    return handler
