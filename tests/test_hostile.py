"""The hostile-input corpus of issue 14: every case is a one-line refusal (CLI exit 2, HTTP 4xx), never a traceback,
a 500 or a hang (each case runs under a 2-second alarm), and the HTTP API never reads a file a request names."""

import contextlib
import json
import signal

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from xpuplan.web.app import app  # noqa: E402

client = TestClient(app)
TRAIN = ["train", "--model", "llama3-8b", "--chip", "h800", "--devices", "8"]


@contextlib.contextmanager
def within(seconds: float = 2.0):
    """Fail (instead of hanging) when the block outlasts ``seconds``."""
    def expire(*_):
        raise TimeoutError(f"case took over {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


MODEL = "name: m\nlayers: 4\nhidden: 256\nheads: 4\nffn_hidden: 512\nvocab: 1000\n"
FILES = {
    "billion-laughs.yaml": "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                           "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                           "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                           "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
    "binary.yaml": b"\x00\xff\xfe\x01binary" * 100,
    "deep.yaml": "x: " + "[" * 5000 + "]" * 5000 + "\n",
    "nan.yaml": MODEL.replace("hidden: 256", "hidden: .nan"),
    "huge-number.yaml": MODEL.replace("hidden: 256", "hidden: 1e400"),
    "wrong-type.yaml": MODEL + "sources: 5\n",
    "list-moe.yaml": MODEL + "moe: [1, 2]\n",
    "text-layers.yaml": MODEL.replace("layers: 4", "layers: many"),
    "not-a-mapping.yaml": "- just\n- a list\n",
    "big.yaml": "# padding\n" * 250_000 + MODEL,
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    for name, text in FILES.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_hostile_model_file_is_one_line(run_cli, corpus, name):
    argv = ["train", "--model", str(corpus / name), "--chip", "h800", "--devices", "8"]
    run_cli(*TRAIN)  # warm the imports outside the alarm
    with within():
        code, _, err = run_cli(*argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv,match", [
    (["--model", "m" * 300], "--model is over 255 characters"),
    (["--tokens", "1e400"], "--tokens"),
    (["--global-batch-tokens", "1e30"], "out of range"),
    (["--devices", "10000000000"], "--devices"),
    (["--usd-per-device-hour", "-3"], "--usd-per-device-hour"),
    (["--seed", "-1"], "--seed"),
    (["--failure-rate", "nan"], "--failure-rate"),
    (["--checkpoint-bandwidth", "inf"], "--checkpoint-bandwidth"),
])
def test_hostile_flags_are_one_line(run_cli, argv, match):
    args = list(TRAIN)
    if argv[0] in args:
        i = args.index(argv[0])
        args[i:i + 2] = argv
    else:
        args += argv
    with within():
        code, _, err = run_cli(*args)
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("argv,match", [
    (["inference", "--model", "llama3-8b", "--chip", "h800", "--devices", "10000000000"], "--devices"),
    (["inference", "--model", "llama3-8b", "--chip", "h800", "--devices", "1", "--seed", "-1"], "--seed"),
    (["inference", "--model", "llama3-8b", "--chip", "h800", "--devices", "1", "--usd-per-device-hour", "-2"],
     "--usd-per-device-hour"),
    (["plan", "--model", "llama3-8b", "--chip", "h800", "--devices", "8", "--plot", "x.html"], "range"),
    (["plan", "--model", "llama3-8b", "--chip", "h800", "--devices", "8..16", "--plot", "/no/such/dir/x.html"],
     "does not exist"),
])
def test_hostile_serving_and_plot_flags(run_cli, argv, match):
    with within():
        code, _, err = run_cli(*argv)
    assert code == 2 and match in err, err


def test_the_http_api_never_opens_a_file_a_request_names(tmp_path, monkeypatch):
    """Issue 14 item 2: with ./secrets.yaml and ./mymodel.yaml beside the server, naming them reads nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secrets.yaml").write_text("password: hunter2\nname: secrets\n")
    (tmp_path / "mymodel.yaml").write_text(MODEL)
    for body in ({"model": "llama3-8b", "chip": "secrets", "devices": 8},
                 {"model": "mymodel", "chip": "h800", "devices": 8},
                 {"model": "./mymodel.yaml", "chip": "h800", "devices": 8},
                 {"model": "llama3-8b", "chip": "secrets.yaml", "devices": 8}):
        with within():
            res = client.post("/api/train", json=body)
        assert res.status_code == 422, res.text
        assert "hunter2" not in res.text and "password" not in res.text


@pytest.mark.parametrize("raw", [
    '{"model": "llama3-8b", "chip": "h800", "devices": NaN}',
    '{"model": "llama3-8b", "chip": "h800", "devices": true}',
    '{"model": "llama3-8b", "chip": "h800", "devices": 8, "tokens": "1e300", "trials": 1}',
    '{"model": "llama3-8b", "chip": "h800", "devices": 8, "tokens": 1e300}',
    '{"model": "llama3-8b", "chip": "h800", "devices": 8, "seq_len": 1e30}',
    '{"model": "' + "x" * 300 + '", "chip": "h800", "devices": 8}',
    '{"model": "llama3-8b", "chip": "h800", "devices": 8, "tp": ' + "[" * 3000 + "]" * 3000 + "}",
    '{"model": "llama3-8b", "chip": "h800", "devices": 8, "usd_per_device_hour": -1}',
    "not json at all",
    "[1, 2, 3]",
])
def test_hostile_http_bodies_are_4xx(raw):
    with within():
        res = client.post("/api/train", content=raw.encode(), headers={"content-type": "application/json"})
    assert 400 <= res.status_code < 500, res.text[:200]


def test_a_search_too_large_is_refused_before_pricing():
    """Issue 14 item 6: DeepSeek-V3 over 2..32768 devices used to burn 13.5 s of CPU before its 422."""
    with within(1.0):
        res = client.post("/api/plan", json={"model": "deepseek-v3", "chip": "h800", "devices": "2..32768"})
    assert res.status_code == 422
    assert any(k in json.dumps(res.json()) for k in ("would price", "over the limit"))


@pytest.mark.parametrize("chip", ["mlu590", "mtt-s5000", "c500", "k100", "p800"])
@pytest.mark.parametrize("command", ["train", "plan", "inference"])
def test_chips_with_unpublished_links_never_crash(run_cli, chip, command):
    """Issue 14 item 3: scale_up.domain: null crashed train, plan and inference (TypeError, HTTP 500)."""
    argv = [command, "--model", "llama3-8b", "--chip", chip, "--devices", "8" if command != "inference" else "1"]
    code, _, err = run_cli(*argv)
    assert code in (0, 2, 3) and "Traceback" not in err
    res = client.post(f"/api/{command}", json={"model": "llama3-8b", "chip": chip,
                                               "devices": "8" if command == "plan" else 1})
    assert res.status_code < 500


def test_plot_with_json_keeps_stdout_json(run_cli, tmp_path):
    """Issue 14 item 7: --plot was silently ignored with --json; now the plot is written and stdout stays JSON."""
    path = tmp_path / "scaling.html"
    code, out, err = run_cli("plan", "--model", "llama3-8b", "--chip", "h800", "--devices", "8..16", "--plot",
                             str(path), "--json")
    assert code == 0, err
    assert [r["devices"] for r in json.loads(out)] and path.stat().st_size > 10_000 and "plot written" in err
