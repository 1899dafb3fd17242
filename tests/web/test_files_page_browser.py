"""The files view (/files) in headless Chromium: every thumbnail loaded, the per-printer
states and reasons, filters, links both ways, and a hostile file name shown as text.

Same set-up as test_page_browser.py (conftest's `page`: Playwright driving
/usr/bin/chromium; a real watch subprocess against an emulated farm of a MINI, an MK4 and
a printing MK4)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_files_api import SPECS, settled
from watch_process import FarmInThread, WatchServer

from sliced_files import HOSTILE_NAME, fill_master
from sync_helpers import Master


@pytest.fixture
def watch(tmp_path: Path, master: Master) -> Iterator[WatchServer]:
    fill_master(master.root)
    with FarmInThread(SPECS) as farm:
        server = WatchServer(farm, master.root, tmp_path)
        try:
            settled(server)
            yield server
        finally:
            assert server.stop() == 0, "".join(server.stderr)


def file_row(page: Page, path: str):  # type: ignore[no-untyped-def]
    return page.locator("#files tbody tr[data-path]").filter(
        has=page.locator("td.path code", has_text=path)
    )


def test_every_file_with_its_thumbnail_loaded(watch: WatchServer, page: Page) -> None:
    page.goto(watch.url + "/files")
    expect(page.locator("#files tbody tr[data-path]")).to_have_count(7)
    images = page.locator("#files tbody td.thumb img")
    expect(images).to_have_count(6)  # every slicer file; plain.gcode has none
    loaded = "(imgs) => imgs.every((i) => i.complete && i.naturalWidth > 0)"
    deadline = time.monotonic() + 15
    while not page.eval_on_selector_all("#files td.thumb img", loaded):
        assert time.monotonic() < deadline, "a thumbnail did not load"
        time.sleep(0.05)
    sizes = page.eval_on_selector_all(
        "#files td.thumb img", "(imgs) => imgs.map((i) => [i.naturalWidth, i.naturalHeight])"
    )
    assert sorted({tuple(s) for s in sizes}) == [(220, 124), (480, 240)]
    expect(file_row(page, "plain.gcode").locator(".no-thumbnail")).to_have_count(1)


def test_a_rows_printers_with_reasons_and_the_filters(watch: WatchServer, page: Page) -> None:
    page.goto(watch.url + "/files")
    clip = file_row(page, "clip_MINI.gcode").first
    expect(clip.locator("td.counts")).to_contain_text("1 hold it")
    clip.get_by_role("button", name="Printers").click()
    details = page.locator("tr.detail .printer-states")
    expect(details.locator('li[data-state="held"]')).to_contain_text("mini-01")
    expect(details.locator('li[data-state="not_wanted"]')).to_contain_text(
        "sliced for MINI; this is an MK4"
    )
    page.get_by_role("button", name="Hide printers").click()

    bracket = file_row(page, "bracket_MK4.bgcode")
    bracket.get_by_role("button", name="Printers").click()
    expect(page.locator('tr.detail li[data-state="pending"]')).to_contain_text("mk4-printing")

    page.select_option("#model-filter", "MINI")
    expect(page.locator("#files tbody tr[data-path]")).to_have_count(2)
    page.select_option("#model-filter", "")
    page.select_option("#state-filter", "pending")  # redrawn once the open row is fetched
    expect(file_row(page, "clip_MINI.gcode")).to_have_count(0)
    expect(file_row(page, "bracket_MK4.bgcode")).to_have_count(1)
    page.select_option("#state-filter", "")
    page.fill("#name-filter", "bracket")
    expect(page.locator("#files tbody tr[data-path]")).to_have_count(2)

    page.click("#to-printers")
    expect(page).to_have_url(watch.url + "/")
    page.click("#to-files")
    expect(page).to_have_url(watch.url + "/files")


def test_a_hostile_file_name_is_text(watch: WatchServer, page: Page) -> None:
    page.goto(watch.url + "/files")
    row = file_row(page, HOSTILE_NAME)
    expect(row.locator("td.path code")).to_have_text(HOSTILE_NAME)
    expect(row.locator("td.counts")).to_contain_text("refuse it")
    row.get_by_role("button", name="Printers").click()
    expect(page.locator('tr.detail li[data-state="refused"]')).to_contain_text("FAT")
    assert page.evaluate("window.pwned") is None
    assert page.locator("#files img[src='x']").count() == 0


def test_the_view_follows_the_master_live(watch: WatchServer, page: Page, master: Master) -> None:
    page.goto(watch.url + "/files")
    expect(page.locator("#files tbody tr[data-path]")).to_have_count(7)
    master.write("new_part.gcode", b"G28\n")
    expect(file_row(page, "new_part.gcode")).to_have_count(1, timeout=15_000)


def test_a_page_opened_after_the_sync_lists_its_events(watch: WatchServer, page: Page) -> None:
    page.goto(watch.url + "/")
    events = page.locator("#events li")
    expect(events.filter(has_text="mini-01  uploaded  clip_MINI.gcode")).to_have_count(1)
    expect(events.filter(has_text="mk4-01  uploaded  bracket_MK4.bgcode")).to_have_count(1)
