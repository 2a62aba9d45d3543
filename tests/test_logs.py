"""Log formats: the text format carries the structured fields too; no format leaks credentials."""

from __future__ import annotations

import io
import json
import logging

import pytest

from memoird.daemon.logs import setup_logging


@pytest.fixture
def capture():
    """setup_logging into a string buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()

    def setup(json_lines: bool) -> io.StringIO:
        setup_logging("INFO", json_lines=json_lines, stream=stream)
        return stream

    yield setup
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_text_format_shows_the_structured_fields(capture):
    stream = capture(json_lines=False)
    log = logging.getLogger("memoird.poll")
    log.warning("feed poll failed", extra={"feed_id": 7, "url": "https://a.example/rss",
                                           "error": "HTTP 503 Service Unavailable",
                                           "error_count": 3})
    line = stream.getvalue().strip()
    assert "\n" not in line
    assert " WARNING memoird.poll: feed poll failed " in line
    assert line.endswith('feed_id=7 url=https://a.example/rss '
                         'error="HTTP 503 Service Unavailable" error_count=3')


def test_text_format_quotes_values_and_keeps_the_traceback_after_the_fields(capture):
    stream = capture(json_lines=False)
    log = logging.getLogger("memoird.apply")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("edit failed", extra={"edit_id": 3, "reason": 'said "no"',
                                            "empty": "", "scores": {"rel": 1.0}})
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith('edit failed edit_id=3 reason="said \\"no\\"" empty="" '
                          'scores={"rel": 1.0}')
    assert rest[0].startswith("Traceback") and rest[-1] == "RuntimeError: boom"


def test_json_format_has_the_same_fields(capture):
    stream = capture(json_lines=True)
    logging.getLogger("memoird.poll").warning("feed gone", extra={"feed_id": 2, "url": "x"})
    entry = json.loads(stream.getvalue())
    assert entry["msg"] == "feed gone" and entry["feed_id"] == 2 and entry["url"] == "x"


@pytest.mark.parametrize("json_lines", [True, False])
def test_credentials_in_urls_never_reach_a_log_line(capture, json_lines):
    stream = capture(json_lines=json_lines)
    secret = "https://alice:s3cret@feeds.example.com/private.xml"
    log = logging.getLogger("memoird.poll")
    log.warning("parsing %s failed", secret, extra={"feed_id": 1, "url": secret,
                                                    "error": f"HTTP 500 from {secret}"})
    try:
        raise ValueError(f"cannot fetch {secret}")
    except ValueError:
        log.exception("crash", extra={"from": secret})
    text = stream.getvalue()
    assert "s3cret" not in text and "alice" not in text
    assert text.count("https://***@feeds.example.com/private.xml") >= 5
