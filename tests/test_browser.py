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


def test_plan_renders_table_and_plots(server, tmp_path):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server + "/")
        page.wait_for_selector("#model option[value='llama3-70b']", state="attached")
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
        browser.close()
