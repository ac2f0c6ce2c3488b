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


@pytest.fixture(scope="module")
def browser(server):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(url)
    page.wait_for_selector("body[data-ready]", state="attached")  # catalog lists filled, a link's inputs restored
    return page


@pytest.fixture
def page(browser, server):
    """The page, loaded, its catalog lists filled."""
    page = _open(browser, server + "/")
    yield page
    page.close()


def _tab(page, tab):
    page.click(f"#tabs [data-tab={tab}]")
    assert page.locator(f"#tab-{tab}").is_visible()


def _done(page, tab):
    """Wait for the tab's requests to end (the tab is aria-busy while they run)."""
    page.wait_for_selector(f"#tab-{tab}:not([aria-busy])", state="attached", timeout=60_000)


def _assert_titled(page, plot):
    """A drawn plot with a title and a title on each of its axes (a right axis included)."""
    page.wait_for_selector(f"#{plot} .main-svg", state="attached", timeout=60_000)
    for part in (".gtitle", ".xtitle", ".ytitle"):
        assert page.locator(f"#{plot} {part}").first.text_content().strip(), (plot, part)
    for right in page.locator(f"#{plot} .y2title").all():
        assert right.text_content().strip(), (plot, "y2title")


def _downloads(page, tab):
    """The texts behind the tab's download links (Blob URLs made in the page), by file name."""
    return page.evaluate("""async (tab) => {
        const out = {};
        for (const a of document.querySelectorAll(`#${tab}-downloads a`)) out[a.download] = await (await fetch(a.href)).text();
        return out; }""", tab)


PLAN_PLOTS = ("plot-breakdown", "plot-memory", "plot-scaling", "plot-cost", "plot-chips")


def test_plan_renders_table_and_plots_prices_a_pinned_plan_and_exports_it(page, tmp_path):
    page.fill("#devices", "256")
    page.fill("#tokens", "1T")
    page.click("#run")
    _done(page, "plan")
    for plot in PLAN_PLOTS:
        _assert_titled(page, plot)
    rows = page.locator("#plans-table tbody tr").count()
    assert rows >= 2
    assert page.locator("#plot-breakdown .bars path").count() > 0
    assert page.locator("#plot-breakdown .ytitle").text_content() == "step time (s)"
    assert page.locator("#plot-memory .ytitle").text_content() == "memory per device (GiB)"
    assert page.locator("#plot-scaling .y2title").text_content() == "MFU (%)"
    assert page.locator("#status").inner_text() == ""
    assert page.locator("#plans-accuracy").inner_text().startswith("expected error on runs it was not fitted on")
    page.locator("#plans-table tbody tr").nth(1).click()  # the second plan's degrees into the pinned fields
    assert page.input_value("#tp") and page.input_value("#pp")
    for field, value in (("tp", "8"), ("pp", "4"), ("vpp", ""), ("cp", ""), ("dp", "")):
        page.fill(f"#{field}", value)
    page.click("#price")
    _done(page, "plan")
    assert page.locator("#status").inner_text() == ""
    assert page.locator("#plans-table tbody td").first.inner_text() == "pinned tp8 pp4 dp8"
    assert page.locator("#plans-table tbody tr").count() == rows + 1
    page.select_option("#format", "torchtitan")
    page.select_option("#zero", "3")  # torchtitan has no ZeRO-1: FSDP
    page.click("#export")
    _done(page, "plan")
    assert page.locator("#status").inner_text() == ""
    assert "tensor_parallel_degree = 8" in page.locator("#export-text").text_content()
    files = _downloads(page, "plan")
    assert {"xpuplan-plan.json", "xpuplan-plan.csv", "torchtitan.toml"} <= set(files)
    assert files["xpuplan-plan.csv"].splitlines()[0].startswith("plan,mbs,zero,recompute,precision,step (s)")
    assert len(files["xpuplan-plan.csv"].splitlines()) == rows + 2  # header, pinned, the search's plans
    target = os.environ.get("XPUPLAN_SCREENSHOT")
    page.screenshot(path=target or str(tmp_path / "page.png"), full_page=True)


def test_every_chip_of_the_catalog_is_selectable_with_its_confidence(page, server):
    chips = page.request.get(server + "/api/catalog/chips").json()
    boxes = page.locator("#chips input[type=checkbox]")
    assert boxes.count() == len(chips)
    assert page.locator("#chips input[type=checkbox]:disabled").count() == 0
    for select in ("#chip", "#pt-chip", "#sv-chip", "#rl-chip", "#pool_a_chip", "#pool_b_chip"):
        assert page.locator(f"{select} option").count() == len(chips)
    labels = page.locator("#chips label").all_inner_texts()
    for chip, label in zip(chips, labels):
        assert label.split() == [chip["name"], f"({chip['confidence']})"]
    options = page.locator("#chip option").all_inner_texts()
    assert options == [f"{c['name']} ({c['confidence']})" for c in chips]
    last = chips[-1]["name"]
    page.select_option("#chip", last)
    page.check(f"#chips input[value='{last}']")
    assert page.input_value("#chip") == last and page.is_checked(f"#chips input[value='{last}']")


def test_the_link_restores_the_inputs_of_its_tab(browser, server):
    link = "/#tab=serving&model=llama3-8b&chip=h800&devices=4&input_len=2048&engine=vllm&slo_tpot_ms=30"
    page = _open(browser, server + link)
    assert page.locator("#tab-serving").is_visible() and not page.locator("#tab-plan").is_visible()
    assert [page.input_value(f"#{f}") for f in ("sv-model", "sv-chip", "sv-devices", "input_len", "engine", "slo_tpot_ms")] == \
        ["llama3-8b", "h800", "4", "2048", "vllm", "30"]
    assert page.input_value("#output_len") == "512"  # not in the link: left at its default
    page.close()
    page = _open(browser, server + "/#tab=plan&devices=512&compare=h800,mi300x&tp=4&recompute=full")
    assert page.input_value("#devices") == "512" and page.input_value("#tp") == "4"
    assert page.input_value("#recompute") == "full"
    assert sorted(page.locator("#chips input:checked").evaluate_all("es => es.map(e => e.value)")) == ["h800", "mi300x"]
    page.fill("#pp", "2")  # an edit goes into the link, and the link round-trips
    hash_ = page.evaluate("location.hash")
    assert "pp=2" in hash_ and "compare=h800%2Cmi300x" in hash_
    again = _open(browser, server + "/" + hash_)
    assert again.input_value("#pp") == "2" and again.input_value("#devices") == "512"
    again.close()
    page.close()


def test_every_tab_renders_and_every_plot_has_its_titles(page):
    """Each tab run once on a small job: tables, plots with a title and axis titles, downloads."""
    page.fill("#devices", "64")
    page.fill("#tokens", "100B")
    page.uncheck("#chips input[value='ascend-910b']")
    page.click("#run")
    _done(page, "plan")

    _tab(page, "posttrain")
    page.click("#run-posttrain")
    _done(page, "posttrain")
    assert page.locator("#posttrain-table tbody tr").count() == 4  # the chosen task, then the other three
    assert page.locator("#posttrain-table tbody td").first.inner_text() == "lora (chosen)"
    csv = _downloads(page, "posttrain")["xpuplan-posttrain.csv"].splitlines()
    assert csv[0].startswith("task,step (s),tokens/s") and len(csv) == 5

    _tab(page, "serving")
    page.select_option("#sv-model", "llama3-8b")
    page.fill("#sv-devices", "2")
    page.click("#run-serving")
    _done(page, "serving")
    assert page.locator("#serving-table tbody tr").count() >= 5  # 1, 2, 4, ... up to what fits
    assert page.locator("#serving-best").inner_text().startswith("Cheapest setup meeting the SLO on h100-sxm")
    assert page.locator("#plot-serving-latency .y2title").text_content() == "output tokens/s"
    equal = page.locator("#serving-table tbody tr").last.locator("td").nth(1).inner_text()
    page.fill("#length_range_ratio", "0.5")  # a benchmark's drawn lengths: the sweep's last point answers apart,
    page.click("#run-serving")               # and the SLO search (mean lengths only) still runs
    _done(page, "serving")
    assert page.locator("#serving-table tbody tr").last.locator("td").nth(1).inner_text() != equal
    assert page.locator("#serving-best").inner_text().startswith("Cheapest setup meeting the SLO on h100-sxm")

    _tab(page, "rl")
    page.fill("#rl-devices", "16")
    for field, value in (("rollouts_per_step", "256"), ("train_global_batch", "64"), ("prompt_len", "256"),
                         ("response_len", "512"), ("max_seq_len", "2048")):
        page.fill(f"#{field}", value)
    page.click("#run-rl")
    _done(page, "rl")
    assert page.locator("#plot-rl .bars path").count() > 0
    assert page.locator("#plot-rl .ytitle").text_content() == "seconds per step"
    assert "expected error on runs it was not fitted on" in page.locator("#rl-status").inner_text()  # its record, shown

    _tab(page, "pools")
    page.select_option("#pl-model", "llama3-8b")
    page.fill("#pool_a_devices", "8")
    page.fill("#pool_b_devices", "8")
    page.fill("#pl-global_batch", "64")
    page.click("#run-pools")
    _done(page, "pools")
    cells = page.locator("#pools-table tbody td:first-child").all_inner_texts()
    assert cells[0].startswith("#1 ") and cells[-2:] == ["h800 alone (8)", "ascend-910b alone (8)"]

    _tab(page, "fleet")
    page.click("#run-fleet")
    _done(page, "fleet")
    assert page.locator("#plot-fleet .bars path").count() >= 2  # the plan's pools and the baseline
    assert page.locator("#plot-fleet .ytitle").text_content() == "USD over the horizon"
    assert page.locator("#fleet-allocation tr").count() == 3  # header, 1 x A100-80GB, 3 x A10G
    assert page.locator("#fleet-status").inner_text().startswith("6.70 USD/h")

    plots = page.locator(".plot").evaluate_all("ps => ps.map(p => p.id)")
    assert len(plots) == 12
    for plot in plots:
        _assert_titled(page, plot)
    assert page.locator(".status").evaluate_all("es => es.map(e => e.textContent)")[:2] == ["", ""]


def test_docs_page_lists_every_endpoint_and_its_fields(page, server):
    page.goto(server + "/docs")
    page.wait_for_selector("body[data-ready]", state="attached")
    heads = [" ".join(h.split()) for h in page.locator("section.endpoint h2").all_inner_texts()]
    assert {"POST /api/train", "POST /api/plan", "POST /api/inference", "POST /api/export",
            "GET /api/catalog/{kind}"} <= set(heads)
    row = page.locator("#post-api-train tr", has_text="seq_len").first.inner_text().split("\t")
    assert row[:4] == ["seq_len", "integer", "4096", "≥ 1; ≤ 10000000"] and "tokens per sequence" in row[4]
