"""The web page, end to end in headless Chromium: upload, progress, stems that load and play.

Debian's chromium package is driven by Playwright (`make test` installs it with apt-get when it
can; Playwright's own browser downloads need network access). The screenshot is saved under
test-artifacts/.
"""

import os
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.songs import make_mp3

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags that let Chromium run headless as root in a container, offline and quietly.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = ROOT / "test-artifacts"
SONG_S = 3.0
TIMEOUT_MS = 120_000


@pytest.fixture
def browser_page():
    """A Chromium page; skipped, saying why, when there is no Chromium to drive."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        yield page
        browser.close()


def test_page_separates_a_song_and_plays_its_stems_in_sync(
    live_server, start_worker, browser_page, tmp_path
):
    page = browser_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    song = tmp_path / "generated.mp3"
    song.write_bytes(make_mp3(SONG_S, seed=11))
    start_worker()

    page.goto(live_server + "/")
    page.wait_for_function("document.querySelectorAll('#model option').length > 0")
    page.set_input_files("#file", str(song))
    # First a stem the tiny test model does not have: the page shows the failure and why.
    page.select_option("#stems", "piano")
    page.click("#separate")
    page.wait_for_selector("#status[data-state=failed]", timeout=TIMEOUT_MS)
    assert 'no stem "piano"' in page.text_content("#status")
    assert page.is_hidden("#mixer")

    page.select_option("#stems", "all")
    page.click("#separate")
    page.wait_for_selector("#status[data-state=done]", timeout=TIMEOUT_MS)

    rows = page.locator(".stem")
    assert sorted(rows.evaluate_all("rows => rows.map(row => row.dataset.stem)")) == [
        "bass",
        "drums",
        "other",
        "vocals",
    ]
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.loaded)") == ["true"] * 4
    durations = page.evaluate("msaas.state.stems.map(stem => stem.buffer.duration)")
    assert all(abs(duration - SONG_S) < 0.15 for duration in durations), durations
    hrefs = page.locator(".stem a.download").evaluate_all("links => links.map(a => a.download)")
    assert all(name.endswith(".mp3") for name in hrefs)

    page.click("#play")
    page.wait_for_function("msaas.position() > 0.5", timeout=10_000)
    assert page.evaluate("msaas.state.context.state") == "running"
    assert page.evaluate("msaas.state.stems.every(stem => stem.source !== null)")

    page.locator(".stem[data-stem=vocals] .solo").click()
    page.locator(".stem[data-stem=drums] .mute").click()
    assert page.evaluate("msaas.gains()") == {"bass": 0, "drums": 0, "other": 0, "vocals": 1}
    page.locator(".stem[data-stem=vocals] .solo").click()
    assert page.evaluate("msaas.gains()") == {"bass": 1, "drums": 0, "other": 1, "vocals": 1}

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)
    assert not errors, errors
