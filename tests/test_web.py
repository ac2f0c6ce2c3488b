"""HTTP API: each endpoint answers exactly the CLI's JSON; bad input is 422 naming the field."""

import json
import re
from pathlib import Path

import pytest
import yaml

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from xpuplan import flags  # noqa: E402
from xpuplan.web.app import MAX_BODY_BYTES, app  # noqa: E402

client = TestClient(app)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "fleet"


BASE = {  # the smallest job of each command; every HTTP field is then tried one at a time on top of it
    "train": {"model": "llama3-8b", "chip": "h800", "devices": 16, "tokens": "1T"},
    "compare": {"model": "llama3-8b", "chip": ["h800", "ascend-910b"], "devices": 16},
    "plan": {"model": "llama3-8b", "chip": "h800", "devices": "16", "seq_len": 2048, "global_batch": 64,
             "tokens": "100B"},
    "inference": {"model": "llama3-8b", "chip": "h800", "devices": 2},
    "rl": {"model": "llama3-8b", "chip": "h100-sxm", "devices": 8, "rollouts_per_step": 64, "train_global_batch": 32,
           "prompt_len": 256, "response_len": 512, "max_seq_len": 2048},
    "fleet": {"fleet": yaml.safe_load((EXAMPLES / "melange-fleet.yaml").read_text()),
              "workloads": yaml.safe_load((EXAMPLES / "melange-workloads.yaml").read_text())},
    "export": {"format": "megatron", "model": "llama3-8b", "chip": "h800", "devices": 16},
}


def _argv(command: str, body: dict) -> list[str]:
    """The CLI spelling of a request body."""
    by_name = {o.name: o for o in flags.options(command)}
    argv = [command]
    for name, value in body.items():
        option = by_name[name]
        if option.kind is bool:
            argv += [option.cli_flag] if value else ([option.off_flag] if option.off_flag else [])
        elif option.many:
            for v in (value if isinstance(value, list) else [value]):
                argv += [option.cli_flag, str(v)]
        elif isinstance(value, dict):  # a document (the fleet's FLEET, WORKLOADS): inline on the CLI
            argv += [option.cli_flag, json.dumps(value)]
        else:
            argv += [option.cli_flag, str(value)]
    return argv + ["--json"]


CASES = [(command, o.name) for command in flags.HTTP_COMMANDS for o in flags.options(command, http=True)
         if o.example is not None]


@pytest.mark.parametrize("command,field", CASES)
def test_http_answers_what_the_cli_answers_for_every_field(run_cli, command, field):
    """Each field alone on top of the base job, at a value other than its default, nothing pinned on either side:
    the same JSON, or the same refusal (exit 2 = 422, exit 3 = 409)."""
    option = next(o for o in flags.options(command, http=True) if o.name == field)
    body = BASE[command] | {field: option.example}
    res = client.post(f"/api/{command}", json=body)
    code, out, err = run_cli(*_argv(command, body))
    if code == 0:
        assert res.status_code == 200, (res.status_code, res.text, err)
        assert res.json() == json.loads(out)
    else:
        assert res.status_code == {2: 422, 3: 409}[code], (code, err, res.text)


def test_the_defaults_are_the_clis(run_cli):
    """No field given beyond the base job: the Monte Carlo trials, memory margin and every other default agree."""
    for command, body in BASE.items():
        res = client.post(f"/api/{command}", json=body)
        code, out, err = run_cli(*_argv(command, body))
        assert code == 0 and res.status_code == 200, err
        assert res.json() == json.loads(out)


def test_moe_dispatch_options_reach_the_api_as_on_the_cli(run_cli):
    """DeepEP-style dispatch and the overlapped all-to-all: the API's fields give the CLI's flags' answer, and they
    change it (DeepSeek-V3 on 1,024 H800, PP 16, EP 64 across 8 nodes)."""
    body = {"model": "deepseek-v3", "chip": "h800", "devices": 1024, "seq_len": 4096, "global_batch": 1024, "pp": 16,
            "ep": 64, "precision": "fp8", "ep_dedup": True, "ep_overlap": 0.85}
    res = client.post("/api/train", json=body)
    code, out, _ = run_cli("train", "--model", "deepseek-v3", "--chip", "h800", "--devices", "1024", "--seq-len", "4096",
                           "--global-batch", "1024", "--pp", "16", "--ep", "64", "--precision", "fp8", "--ep-dedup",
                           "--ep-overlap", "0.85", "--json")
    assert res.status_code == 200 and code == 0
    assert res.json() == json.loads(out)
    plain = client.post("/api/train", json={k: v for k, v in body.items() if not k.startswith("ep_")}).json()
    assert res.json()["breakdown"]["ep_comm_s"] < plain["breakdown"]["ep_comm_s"]
    assert client.post("/api/train", json=body | {"ep_overlap": 1.5}).status_code == 422


@pytest.mark.parametrize("path,body,field", [
    ("/api/train", {"model": "llama3-70b", "chip": "h10-sxm", "devices": 8}, "chip"),
    ("/api/train", {"model": "llama3-70b", "chip": "h100-sxm", "devices": -8}, "devices"),
    ("/api/train", {"model": "llama3-70b", "chip": "h100-sxm", "devices": 8, "tp": 3}, "devices"),
    ("/api/train", {"model": "llama3-70b", "chip": "h100-sxm", "devices": 8, "bogus": 1}, "bogus"),
    ("/api/train", {"model": "llama3-70b", "chip": "/etc/passwd", "devices": 8}, "chip"),
    ("/api/train", {"model": "../models/x.yaml", "chip": "h100-sxm", "devices": 8}, "model"),
    ("/api/inference", {"model": "llama3-70b", "chip": "h100-sxm", "devices": 8, "output_len": 0}, "output_len"),
    ("/api/plan", {"model": "llama3-70b", "chip": "h100-sxm", "devices": "9..3"}, "devices"),
    ("/api/train", {"model": "llama3-8b", "chip": "h100-sxm", "devices": 8, "override": ["scale_up.domian=72"]},
     "override"),
    ("/api/inference", {"model": "llama3-8b", "chip": "h100-sxm", "devices": 1, "override": "hbm.capacity=lots"},
     "override"),
])
def test_bad_input_is_422_naming_the_field(path, body, field):
    res = client.post(path, json=body)
    assert res.status_code == 422
    detail = res.json()["detail"]
    assert any(field in [str(x) for x in e["loc"]] for e in detail), detail


def test_does_not_fit_is_409_with_reason(run_cli):
    res = client.post("/api/train", json={"model": "llama3-405b", "chip": "h100-sxm", "devices": 8})
    code, _, err = run_cli("train", "--model", "llama3-405b", "--chip", "h100-sxm", "--devices", "8")
    assert res.status_code == 409 and code == 3
    assert res.json()["detail"] in err and "does not fit" in err
    res = client.post("/api/inference", json={"model": "llama3-405b", "chip": "h100-sxm", "devices": 1})
    assert res.status_code == 409 and "does not fit" in res.json()["detail"]


def test_body_size_limit():
    res = client.post("/api/train", content=b" " * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"})
    assert res.status_code == 413


def test_search_too_large_is_refused_with_its_size():
    body = {"model": "deepseek-v3", "chip": "h800", "devices": "64..262144", "allow_cross_domain_tp": True}
    res = client.post("/api/plan", json=body)
    assert res.status_code == 422
    assert "would price about" in res.json()["detail"][0]["msg"]


def test_catalog_and_schema():
    chips = client.get("/api/catalog/chips").json()
    assert {"h100-sxm", "ascend-910b"} <= {c["name"] for c in chips}
    assert client.get("/api/catalog/gpus").status_code == 422
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/train", "/api/plan", "/api/inference", "/api/catalog/{kind}"} <= set(paths)


def test_page_and_offline_plotly():
    page = client.get("/")
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text and "cdn" not in page.text
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert client.get("/static/../../api.py").status_code == 404


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_docs_work_offline():
    """Issue 20: /docs is our own page drawn from /openapi.json, every script and style served from here (FastAPI's
    default loads Swagger UI from a CDN and is blank offline); the CDN-backed /redoc is off too."""
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(docs.text), EXTERNAL.search(docs.text)
    assert "/static/docs.js" in docs.text and "/openapi.json" in docs.text
    assert client.get("/static/docs.js").status_code == 200
    assert client.get("/redoc").status_code == 404
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


def test_the_page_and_its_scripts_reference_no_other_host():
    page = client.get("/")
    assert not EXTERNAL.search(page.text)
    for name in ("app.js", "plan.js", "tabs.js", "docs.js", "style.css"):
        res = client.get(f"/static/{name}")
        assert res.status_code == 200 and "http://" not in res.text and "https://" not in res.text, name


def test_export_answers_the_launch_file_as_the_cli_writes_it(run_cli):
    """Issue 20 item 8: POST /api/export prices the plan and answers `export --json`'s object, the file as text."""
    body = {"format": "torchtitan", "model": "llama3-8b", "chip": "h100-sxm", "devices": 16, "tp": 2, "zero": 3}
    res = client.post("/api/export", json=body)
    code, out, err = run_cli("export", "--format", "torchtitan", "--model", "llama3-8b", "--chip", "h100-sxm",
                             "--devices", "16", "--tp", "2", "--zero", "3", "--json")
    assert res.status_code == 200 and code == 0, (res.text, err)
    done = res.json()
    assert done == json.loads(out)
    assert done["filename"] == "torchtitan.toml" and "tensor_parallel_degree = 2" in done["text"]
    assert done["plan"]["tp"] == 2 and done["plan"]["dp"] == 8
    served = client.post("/api/export", json={"format": "sglang", "model": "llama3-8b", "chip": "h100-sxm", "devices": 2})
    assert served.status_code == 200 and "sglang" in served.json()["text"]


def test_a_plan_a_format_cannot_express_is_422_with_the_one_line_reason():
    res = client.post("/api/export", json={"format": "torchtitan", "model": "llama3-8b", "chip": "h100-sxm",
                                           "devices": 16, "zero": 1})
    assert res.status_code == 422
    (error,) = res.json()["detail"]
    assert error["loc"] == ["body", "zero"] and error["msg"].startswith("torchtitan cannot express --zero 1")
    assert "\n" not in error["msg"]
    res = client.post("/api/export", json={"format": "vllm", "model": "llama3-8b", "chip": "h100-sxm", "devices": 2,
                                           "seq_len": 8})
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", "seq_len"]


@pytest.mark.parametrize("field,value", [("source", "plans.json"), ("out", "/tmp/x.args"), ("pick", 2), ("json", True)])
def test_export_over_http_names_no_file(field, value):
    """--from, --pick, --out and --json read or write files, or choose the CLI's output: not fields over HTTP."""
    res = client.post("/api/export", json={"format": "megatron", "model": "llama3-8b", "chip": "h100-sxm",
                                           "devices": 8, field: value})
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", field]


def test_a_chunked_body_is_refused_while_it_streams():
    """Issue 14 item 4: a chunked body has no length to check; it is counted as it arrives and refused past 1 MiB,
    long before the sender is done (64 MiB offered in 64 KiB chunks, straight through the ASGI interface)."""
    import asyncio

    received, sent = [], []

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": b" " * 65536, "more_body": len(received) < 1024}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/train", "raw_path": b"/api/train", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert len(received) <= MAX_BODY_BYTES // 65536 + 1  # stopped at about 1 MiB, not 64


def test_a_bad_content_length_is_refused():
    res = client.post("/api/train", content=b"{}", headers={"content-type": "application/json",
                                                          "content-length": "lots"})
    assert res.status_code in (400, 413)


def test_a_full_search_queue_is_503_with_retry_after(monkeypatch):
    """Issue 14 item 8: expensive searches are queued and bounded; past the queue the answer is at once."""
    import threading

    from xpuplan.web import app as web

    monkeypatch.setattr(web, "_queued", threading.BoundedSemaphore(1))
    web._queued.acquire()  # the one place is taken
    res = client.post("/api/plan", json={"model": "llama3-8b", "chip": "h800", "devices": "8"})
    assert res.status_code == 503 and res.headers["retry-after"] == "5"
    assert client.post("/api/train", json={"model": "llama3-8b", "chip": "h800", "devices": 8}).status_code == 200
