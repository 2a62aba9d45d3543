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


def test_edit_subcommands_dispatch_through_the_action_table(data_dir, capsys, monkeypatch):
    """`memoird edits <name>` exists for each entry of actions.EDIT_ACTIONS and calls it."""
    from types import SimpleNamespace

    from memoird.daemon import actions
    from memoird.daemon.cli import EDIT_ACTION_HELP

    assert list(EDIT_ACTION_HELP) == list(actions.EDIT_ACTIONS) == ["approve", "reject", "revert"]
    calls = []

    def fake(rt, edit_id, actor, reason):
        calls.append((edit_id, actor, reason))
        return SimpleNamespace(id=edit_id, status="rejected")

    monkeypatch.setitem(actions.EDIT_ACTIONS, "reject", fake)
    code, out, _ = run(capsys, "edits", "reject", "41", "--actor", "bob")
    assert (code, out.strip()) == (0, "edit 41 is rejected")
    assert calls == [(41, "bob", "reject from the CLI")]


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


# ---------------------------------------------------------------- -c anywhere, check-config


def _leaf_parsers(parser, path=()):
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaf_parsers(child, path + (name,))


def test_every_subcommand_accepts_config_after_it(tmp_path):
    from memoird.daemon.cli import build_parser

    parser = build_parser()
    leaves = list(_leaf_parsers(parser))
    assert len(leaves) > 20
    for path, leaf in leaves:
        assert any("--config" in a.option_strings for a in leaf._actions), path
    for argv in (["run"], ["feeds", "list"], ["edits", "approve", "3"], ["distill", "--force"],
                 ["checkpoints", "rollback"], ["check-config"], ["ask", "Paris is"]):
        assert parser.parse_args([*argv, "-c", "after.toml"]).config == "after.toml", argv
        assert parser.parse_args(["-c", "before.toml", *argv]).config == "before.toml", argv
        assert parser.parse_args(["-c", "b.toml", *argv, "--config", "a.toml"]).config == "a.toml"
        assert parser.parse_args(argv).config is None


def test_check_config_validates_and_exits(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "good.toml"
    good.write_text(f'[daemon]\ndata_dir = "{tmp_path / "state"}"\n[api]\nport = 9001\n')
    code, out, err = run(capsys, "check-config", "-c", str(good))
    assert code == 0 and err == ""
    assert f"config ok: {good}" in out and "http://127.0.0.1:9001" in out
    assert not (tmp_path / "state").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text("[api]\nport = 0\n")
    code, out, err = run(capsys, "check-config", "--config", str(bad))
    assert_one_line_error(code, err, "api.port", "bad.toml")


def test_usage_errors_are_one_line(data_dir, capsys):
    for argv, needle in ((["feeds", "add"], "url"), (["bogus"], "bogus"),
                         (["edits", "approve", "x"], "'x'")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        _, err = capsys.readouterr()
        assert_one_line_error(exit_.value.code, err, needle)


# ---------------------------------------------------------------- one-line user errors


def assert_one_line_error(code, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line:\n{err}"
    assert "Traceback" not in err and "error:" in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"


def test_distill_before_init_is_one_line(data_dir, capsys):
    code, out, err = run(capsys, "distill")
    assert_one_line_error(code, err, "no active checkpoint", str(data_dir), "memoird init")


def test_checkpoint_rollback_before_init_is_one_line(data_dir, capsys):
    code, out, err = run(capsys, "checkpoints", "rollback")
    assert_one_line_error(code, err, "no active checkpoint", str(data_dir), "memoird init")


def test_ask_with_an_empty_prompt_is_one_line(data_dir, capsys):
    for prompt in ("", "   "):
        code, out, err = run(capsys, "ask", prompt)
        assert_one_line_error(code, err, "prompt is empty")
    assert not data_dir.exists()              # refused before anything was opened or loaded


def test_endpoint_that_is_not_a_url_fails_at_config_load(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "memoird.toml"
    config.write_text(f'[daemon]\ndata_dir = "{tmp_path / "state"}"\n'
                      '[extract]\nbackend = "openai"\nendpoint = "not a url"\nmodel = "m"\n')
    for argv in (["poll"], ["check-config"], ["run"]):
        code, out, err = run(capsys, "-c", str(config), *argv)
        assert_one_line_error(code, err, "extract.endpoint", str(config), "not a url")
    monkeypatch.setenv("MEMOIRD_EXTRACT_ENDPOINT", "ftp://user:pw@vllm.internal/v1")
    code, out, err = run(capsys, "-c", str(config), "check-config")
    assert_one_line_error(code, err, "extract.endpoint", "MEMOIRD_EXTRACT_ENDPOINT")
    assert "pw" not in err                     # a password in the URL is not echoed


# ---------------------------------------------------------------- feed input


@pytest.mark.parametrize("url", ["https://exa mple.org/rss", "ftp://example.org/rss",
                                 "https://example.org:99999/rss", "https://-x-.example/rss",
                                 "example.org/rss"])
def test_feeds_add_refuses_an_invalid_url_in_one_line(data_dir, capsys, url):
    code, out, err = run(capsys, "feeds", "add", url)
    assert_one_line_error(code, err, url)
    assert open_db(data_dir / "memoird.db")["feeds"].count == 0


SECRET_URL = "https://alice:s3cret@feeds.example.com/private.xml"
SHOWN_URL = "https://***@feeds.example.com/private.xml"


def test_credentials_in_feed_urls_are_never_shown(data_dir, tmp_path, capsys):
    code, out, err = run(capsys, "feeds", "add", SECRET_URL, "--title", "Private")
    assert code == 0 and SHOWN_URL in out
    shown = [out]
    code, out, _ = run(capsys, "feeds", "list", "--json")
    assert json.loads(out)[0]["url"] == SHOWN_URL
    shown.append(out)
    code, out, _ = run(capsys, "feeds", "list")
    assert "***@feeds.example" in out
    shown.append(out)
    code, out, err = run(capsys, "feeds", "add", SECRET_URL)       # duplicate: an error line
    assert code == 2
    shown.append(err)
    code, out, _ = run(capsys, "feeds", "export-opml")
    assert SHOWN_URL in out
    shown.append(out)
    target = tmp_path / "redacted.opml"
    code, out, _ = run(capsys, "feeds", "export-opml", str(target))
    assert code == 0 and "redacted" in out
    shown.append(target.read_text())
    assert all("s3cret" not in text for text in shown)
    # on request, with credentials, in a file only its owner reads
    secret_file = tmp_path / "with-credentials.opml"
    code, out, _ = run(capsys, "feeds", "export-opml", str(secret_file), "--with-credentials")
    assert code == 0 and SECRET_URL in secret_file.read_text()
    assert secret_file.stat().st_mode & 0o777 == 0o600
    # the redacted form an operator copies from `feeds list` names the feed
    code, out, _ = run(capsys, "feeds", "pause", SHOWN_URL)
    assert code == 0 and "paused" in out


def test_resume_of_a_removed_feed_is_refused(data_dir, capsys):
    run(capsys, "feeds", "add", "https://a.example.org/rss")
    run(capsys, "feeds", "remove", "1")
    for action in ("resume", "pause"):
        code, out, err = run(capsys, "feeds", action, "1")
        assert_one_line_error(code, err, "feed 1", "removed", action)
    code, out, _ = run(capsys, "feeds", "list", "--status", "removed", "--json")
    assert [f["status"] for f in json.loads(out)] == ["removed"]


def test_removing_a_feed_twice_says_it_is_already_removed(data_dir, capsys):
    run(capsys, "feeds", "add", "https://a.example.org/rss")
    code, out, _ = run(capsys, "feeds", "remove", "https://a.example.org/rss")
    assert code == 0 and "removed feed 1" in out
    code, out, err = run(capsys, "feeds", "remove", "https://a.example.org/rss")
    assert_one_line_error(code, err, "feed 1", "already removed")
    assert out == ""


OPML_MIXED = """<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>
<outline text="News">
  <outline type="rss" text="Good A" xmlUrl="https://a.example.com/feed"/>
  <outline type="rss" text="Spaces" xmlUrl="https://exa mple.org/rss"/>
  <outline type="rss" text="Ftp" xmlUrl="ftp://files.example.org/rss"/>
  <outline type="rss" text="Good B" xmlUrl="https://b.example.net/rss"/>
  <outline type="rss" text="Again A" xmlUrl="https://a.example.com/feed"/>
  <outline type="rss" text="Redacted" xmlUrl="https://***@private.example.com/feed"/>
  <outline type="rss" text="Present" xmlUrl="https://present.example.org/rss"/>
</outline></body></opml>"""


def test_opml_import_reports_each_skipped_outline_and_imports_the_rest(data_dir, tmp_path,
                                                                       capsys):
    run(capsys, "feeds", "add", "https://present.example.org/rss")
    opml = tmp_path / "mixed.opml"
    opml.write_text(OPML_MIXED)
    code, out, err = run(capsys, "feeds", "import-opml", str(opml))
    assert code == 0 and err == ""
    lines = out.splitlines()
    skipped = [line for line in lines if line.startswith("skipped outline")]
    assert len(skipped) == 5
    assert any("outline 2 " in line and "exa mple.org" in line and "spaces" in line
               for line in skipped)
    assert any("outline 3 " in line and "ftp://" in line for line in skipped)
    assert any("outline 5 " in line and "repeats" in line for line in skipped)
    assert any("outline 6 " in line and "redacted" in line for line in skipped)
    assert any("outline 7 " in line and "already present (feed 1)" in line for line in skipped)
    assert lines[-1] == (f"imported 2 feeds from {opml}; skipped 5 outlines "
                         "(1 already present, 4 invalid)")
    code, out, _ = run(capsys, "feeds", "list", "--json")
    assert [f["url"] for f in json.loads(out)] == [
        "https://present.example.org/rss", "https://a.example.com/feed", "https://b.example.net/rss"]


def test_opml_import_is_one_transaction(data_dir, tmp_path, capsys, monkeypatch):
    from memoird.store import feeds

    opml = tmp_path / "three.opml"
    opml.write_text(OPML_MIXED)
    real_add, calls = feeds.add_feed, []

    def failing_add(db, url, **kw):
        calls.append(url)
        if len(calls) == 2:
            raise OSError("disk full")          # not an operator error: it propagates
        return real_add(db, url, **kw)

    monkeypatch.setattr(feeds, "add_feed", failing_add)
    with pytest.raises(OSError):
        main(["feeds", "import-opml", str(opml)])
    monkeypatch.setattr(feeds, "add_feed", real_add)
    assert open_db(data_dir / "memoird.db")["feeds"].count == 0   # the first one rolled back


def test_opml_import_help_documents_the_choice(capsys):
    with pytest.raises(SystemExit):
        main(["feeds", "import-opml", "--help"])
    out, _ = capsys.readouterr()
    assert "ONE transaction" in out and "skipped" in out


def test_export_opml_refuses_a_missing_folder(data_dir, tmp_path, capsys):
    run(capsys, "feeds", "add", "https://a.example.org/rss")
    target = tmp_path / "no" / "such" / "feeds.opml"
    code, out, err = run(capsys, "feeds", "export-opml", str(target))
    assert_one_line_error(code, err, str(target.parent), "does not exist")
    assert not (tmp_path / "no").exists()
    code, out, err = run(capsys, "feeds", "export-opml", str(tmp_path))
    assert_one_line_error(code, err, str(tmp_path), "folder")
