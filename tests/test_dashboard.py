"""The operator dashboard in a real headless Chromium (Debian's package) driven by
Playwright, against a real uvicorn server on loopback and a real seeded SQLite store:
load, filter, show provenance, approve, revert (token entered once, kept in
sessionStorage). The model is a stand-in; the real one is behind test_service_e2e.py.
"""

from __future__ import annotations

import shutil

import pytest

from memoird.daemon.api import create_app
from memoird.store import edits as edit_log

from service_support import TOKEN, FakeEngine, fake_service, live_server, seed_edit

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the dashboard test: "
                    "apt-get install -y chromium (`make browser`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(tmp_path):
    engine = FakeEngine()
    service = fake_service(tmp_path, engine=engine)
    db = service.rt.db()
    for i, status in enumerate(["applied", "pending", "pending", "applied", "rejected",
                                "pending", "applied", "failed"]):
        seed_edit(db, i, status, created_at=f"2026-02-{i + 1:02d}T08:00:00+00:00")
    with live_server(create_app(service)) as url:
        yield url, service, engine


def test_load_filter_approve_revert(browser, site):
    url, service, engine = site
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")

    rows = page.locator("#edit-rows tr")
    rows.first.wait_for()
    assert rows.count() == 8
    assert page.get_by_test_id("page-info").inner_text() == "1–8 of 8"
    page.get_by_test_id("status").filter(has_text="memory 2 edits").wait_for()

    # filter: pending only
    page.get_by_test_id("filter-status").select_option("pending")
    page.get_by_test_id("filter-apply").click()
    page.get_by_test_id("page-info").filter(has_text="of 3").wait_for()
    assert {rows.nth(i).get_attribute("data-status") for i in range(rows.count())} == {"pending"}

    # provenance of pending edit 2 (seeded as Player 1)
    page.locator('#edit-rows tr[data-edit-id="2"]').click()
    detail = page.get_by_test_id("edit-detail")
    detail.get_by_test_id("target").filter(has_text="Club 1").wait_for()
    assert detail.get_by_test_id("evidence").first.inner_text() == \
        "Player 1 signed for Club 1 on Monday."
    assert detail.get_by_test_id("source").count() == 2
    assert "Old Town FC" in detail.get_by_test_id("probes").inner_text()
    assert detail.get_by_test_id("policy-rule").inner_text() == "min_domains=2"

    # approving without a token is refused in the page, and nothing changes
    detail.get_by_test_id("action-approve").click()
    page.get_by_test_id("message").filter(has_text="enter the API token").wait_for()
    assert edit_log.get_edit(service.rt.db(), 2).status == "pending"

    # token entered once, kept in this tab's sessionStorage only
    page.get_by_test_id("token").fill(TOKEN)
    page.get_by_test_id("token-form").locator("button").click()
    assert page.evaluate("sessionStorage.getItem('memoird-token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0

    detail.get_by_test_id("action-approve").click()
    page.get_by_test_id("message").filter(has_text="edit #2 is now approved").wait_for()
    assert edit_log.get_edit(service.rt.db(), 2).status == "approved"
    # the filtered list refreshed: edit 2 is no longer pending
    page.get_by_test_id("page-info").filter(has_text="of 2").wait_for()
    event = edit_log.edit_events(service.rt.db(), 2)[-1]
    assert (event.actor, event.reason) == ("operator", "approve on the dashboard")

    # revert an applied edit, with a reason, after a reload (the token survives it)
    page.reload()
    page.get_by_test_id("filter-status").select_option("applied")
    page.get_by_test_id("filter-subject").fill("Player 3")
    page.get_by_test_id("filter-apply").click()
    page.get_by_test_id("page-info").filter(has_text="1–1 of 1").wait_for()
    page.locator('#edit-rows tr[data-edit-id="4"]').click()
    detail.get_by_test_id("action-reason").fill("source retracted the story")
    detail.get_by_test_id("action-revert").click()
    page.get_by_test_id("message").filter(has_text="edit #4 is now reverted").wait_for()
    assert engine.reverted == [4]
    event = edit_log.edit_events(service.rt.db(), 4)[-1]
    assert (event.to_status, event.reason) == ("reverted", "source retracted the story")
    detail.get_by_test_id("events").filter(has_text="source retracted the story").wait_for()
    assert "answer_after" in detail.get_by_test_id("verification").inner_text()
    assert "Player 3 plays for" in detail.get_by_test_id("probes").inner_text()

    # feeds and checkpoints tabs render
    page.get_by_test_id("tab-feeds").click()
    page.locator("#feed-rows tr").first.wait_for()
    assert page.locator("#feed-rows tr").count() == 2
    page.get_by_test_id("tab-checkpoints").click()
    assert errors == []
    page.close()
