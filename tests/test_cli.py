"""The `memoird` command line without the model: feeds, OPML, edit log, status, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memoird.daemon.cli import main
from memoird.store import edits, open_db


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MEMOIRD_DAEMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_feeds_add_list_remove(data_dir, capsys):
    code, out, _ = run(capsys, "feeds", "add", "https://news.example.org/rss.xml", "--trust", "0.7")
    assert code == 0 and "added feed 1" in out
    code, out, _ = run(capsys, "feeds", "list", "--json")
    listed = json.loads(out)
    assert [f["url"] for f in listed] == ["https://news.example.org/rss.xml"]
    assert listed[0]["trust"] == 0.7 and listed[0]["status"] == "active"
    code, out, err = run(capsys, "feeds", "add", "https://news.example.org/rss.xml")
    assert code == 2 and "https://news.example.org/rss.xml" in err
    code, out, _ = run(capsys, "feeds", "remove", "https://news.example.org/rss.xml")
    assert code == 0 and "removed feed 1" in out
    code, out, _ = run(capsys, "feeds", "list", "--json")
    assert json.loads(out) == []


def test_bad_feed_url_exits_2_naming_it(data_dir, capsys):
    code, _, err = run(capsys, "feeds", "add", "ftp://nope")
    assert code == 2 and "ftp://nope" in err
    code, _, err = run(capsys, "feeds", "remove", "42")
    assert code == 2 and "42" in err


def test_opml_round_trip(data_dir, tmp_path, capsys):
    opml = tmp_path / "in.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>'
        '<outline text="World"><outline type="rss" text="A" xmlUrl="https://a.example.com/feed"/>'
        '<outline type="rss" text="B" xmlUrl="https://b.example.net/rss"/></outline>'
        "</body></opml>")
    code, out, _ = run(capsys, "feeds", "import-opml", str(opml))
    assert code == 0 and "imported 2 feeds" in out
    code, out, _ = run(capsys, "feeds", "import-opml", str(opml))
    assert "imported 0 feeds" in out and "2 already present" in out
    target = tmp_path / "out.opml"
    code, out, _ = run(capsys, "feeds", "export-opml", str(target))
    assert code == 0
    text = target.read_text()
    assert "https://a.example.com/feed" in text and "https://b.example.net/rss" in text


def test_broken_opml_names_the_file(data_dir, tmp_path, capsys):
    bad = tmp_path / "broken.opml"
    bad.write_text("<opml><body><outline")
    code, _, err = run(capsys, "feeds", "import-opml", str(bad))
    assert code == 2 and "broken.opml" in err
    code, _, err = run(capsys, "feeds", "import-opml", str(tmp_path / "missing.opml"))
    assert code == 2 and "missing.opml" in err


def test_config_error_names_key_and_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "memoird.toml"
    config.write_text("[feeds]\nmax_redirects = -3\n")
    code, _, err = run(capsys, "-c", str(config), "feeds", "list")
    assert code == 2 and "max_redirects" in err and "memoird.toml" in err


def test_edits_list_show_approve_reject(data_dir, capsys):
    db = open_db(data_dir / "memoird.db")
    a = edits.create_edit(db, subject="Croatia", relation="P38",
                          prompt="The official currency of Croatia is", target="the euro",
                          actor="policy", reason="two domains agree", status="pending")
    b = edits.create_edit(db, subject="Atlantis", relation="P36",
                          prompt="The capital of Atlantis is", target="Poseidonia",
                          actor="policy", reason="two domains agree", status="pending")
    code, out, _ = run(capsys, "edits", "list", "--json", "--status", "pending")
    assert json.loads(out)["total"] == 2
    code, out, _ = run(capsys, "edits", "approve", str(a.id), "--actor", "alice", "--reason", "checked")
    assert code == 0 and "approved" in out
    code, out, _ = run(capsys, "edits", "reject", str(b.id), "--actor", "alice")
    assert code == 0 and "rejected" in out
    code, out, _ = run(capsys, "edits", "show", str(a.id))
    assert "alice: checked" in out and "the euro" in out
    code, _, err = run(capsys, "edits", "reject", str(b.id))
    assert code == 2 and "rejected" in err  # illegal transition names the status
    code, out, _ = run(capsys, "status", "--json")
    status = json.loads(out)
    assert status["edits"]["approved"] == 1 and status["edits"]["rejected"] == 1


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "memoird.daemon.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for command in ("init", "feeds", "poll", "run", "ask", "edits", "status", "demo"):
        assert command in out


def test_poll_json_prints_one_json_document_and_progress_on_stderr(data_dir, capfd,
                                                                  monkeypatch):
    """`memoird poll --json | jq` works: the stage lines (and whatever a library writes to
    file descriptor 1 while a stage runs) go to stderr. The model-bound stages are stubbed;
    poll and decide run for real on the empty store."""
    import os

    from memoird.daemon.pipeline import Pipeline

    def noisy(self):
        print("a library's banner")
        os.write(1, b"native code writing to fd 1\n")
        return {"articles": 0, "work": 0}

    for stage in ("_extract", "_probe", "_apply"):
        monkeypatch.setattr(Pipeline, stage, noisy)
    code = main(["poll", "--json"])
    out, err = capfd.readouterr()
    assert code == 0
    report = json.loads(out)  # the whole of stdout is one document
    assert list(report) == ["poll", "extract", "probe", "decide", "apply"]
    assert report["poll"]["result"]["feeds"] == 0 and report["extract"]["error"] is None
    assert "[   poll]" in err and "[extract]" in err and "native code" in err
    assert "a library's banner" in err
    print("stdout works again")
    assert capfd.readouterr().out == "stdout works again\n"

    code = main(["poll", "--json", "--quiet"])
    out, err = capfd.readouterr()
    assert json.loads(out)["decide"]["error"] is None and "[   poll]" not in err
