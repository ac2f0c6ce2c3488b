"""The page in a real browser: headless Chromium (Debian's) driven by Playwright, served on 127.0.0.1."""

import os
import shutil
import socket
import threading
import time

import pytest

playwright = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser test: .ci/run installs Debian's chromium", pytrace=False)
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server():
    from xpuplan.web.app import app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(server):
    """The page, loaded, its catalog lists filled."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server + "/")
        page.wait_for_selector("#model option[value='llama3-70b']", state="attached")
        yield page
        browser.close()


def test_plan_renders_table_and_plots(page, tmp_path):
    page.fill("#devices", "256")
    page.fill("#tokens", "1T")
    page.click("#run")
    page.wait_for_selector("#plans-table tbody tr", timeout=60_000)
    for plot in ("plot-breakdown", "plot-memory", "plot-cost", "plot-scaling", "plot-chips"):
        page.wait_for_selector(f"#{plot} .main-svg", timeout=60_000)
    rows = page.locator("#plans-table tbody tr").count()
    assert rows >= 2
    bars = page.locator("#plot-breakdown .bars path").count()
    assert bars > 0
    assert page.locator("#plot-breakdown .ytitle").text_content() == "step time (s)"
    assert page.locator("#plot-memory .ytitle").text_content() == "memory per device (GiB)"
    assert page.locator("#status").inner_text() == ""
    target = os.environ.get("XPUPLAN_SCREENSHOT")
    page.screenshot(path=target or str(tmp_path / "page.png"), full_page=True)


def test_rl_step_renders_its_phases(page):
    page.select_option("#model", "llama3-8b")
    page.fill("#devices", "16")
    for field, value in (("rollouts_per_step", "256"), ("train_global_batch", "64"), ("prompt_len", "256"),
                         ("response_len", "512"), ("max_seq_len", "2048")):
        page.fill(f"#{field}", value)
    page.click("#run-rl")
    page.wait_for_selector("#plot-rl .main-svg", timeout=120_000)
    assert page.locator("#plot-rl .bars path").count() > 0
    assert page.locator("#plot-rl .ytitle").text_content() == "seconds per step"
    assert "forecast" in page.locator("#rl-status").inner_text()  # the result's own caveat, shown


def test_fleet_tab_solves_melanges_example_and_shows_its_allocation(page):
    page.click("#run-fleet")
    page.wait_for_selector("#plot-fleet .main-svg", timeout=120_000)
    assert page.locator("#plot-fleet .bars path").count() >= 2  # the plan's pools and the baseline
    assert page.locator("#plot-fleet .ytitle").text_content() == "USD over the horizon"
    assert page.locator("#fleet-allocation tr").count() == 3  # header, 1 x A100-80GB, 3 x A10G
    assert page.locator("#fleet-status").inner_text().startswith("6.70 USD/h")
