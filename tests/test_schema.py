"""Issue 20: the chip, model and job file schemas (pydantic models in catalog/schema.py) are what the loader checks,
what ``xpuplan schema`` prints and what ``GET /api/schema/{kind}`` answers; every bundled file validates, and a field
added to a spec dataclass lands in the schema by itself."""

import contextlib
import dataclasses
import io
import json
import subprocess
import sys
import typing

import pytest
import yaml

from xpuplan import catalog, cli, flags
from xpuplan.catalog import chip_from_dict, model_from_dict
from xpuplan.catalog import schema as files
from xpuplan.errors import BadInput
from xpuplan.specs import DTYPES, Chip, Efficiency, Model

jsonschema = pytest.importorskip("jsonschema")

CHIP = {"name": "x", "peak_flops": {"bf16": "100TFLOPS"}, "hbm": {"capacity": "80GiB", "bandwidth": "2TB/s"}}
MODEL = {"name": "m", "layers": 2, "hidden": 64, "heads": 8, "ffn_hidden": 128, "vocab": 100}


@pytest.fixture(scope="module")
def printed():
    """The JSON Schemas as ``xpuplan schema KIND`` prints them, by kind."""
    out = {}
    for kind in ("chip", "model"):
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            cli.main(["schema", kind])
        out[kind] = json.loads(text.getvalue())
    return out


def _raw(kind: str, name: str):
    return yaml.safe_load((catalog.CATALOG_DIR / f"{kind}s" / f"{name}.yaml").read_text())


@pytest.mark.parametrize("kind,name", [("chip", n) for n in catalog.names("chips")]
                         + [("model", n) for n in catalog.names("models")])
def test_every_catalog_file_validates_against_the_printed_schema_and_the_loader_model(printed, kind, name):
    data = _raw(kind, name)
    jsonschema.Draft202012Validator(printed[kind]).validate(data)
    files.check(kind, data, f"{kind}s/{name}.yaml")  # bundled files skip this check on load: it runs here
    build = chip_from_dict if kind == "chip" else model_from_dict
    assert build(data, name).name == name


def _properties(schema: dict, node: dict) -> dict:
    """A node's properties, through a $ref and an Optional's anyOf."""
    for option in node.get("anyOf", [node]):
        if "$ref" in option:
            option = schema["$defs"][option["$ref"].rsplit("/", 1)[1]]
        if "properties" in option:
            return option["properties"]
    return {}


def _described(schema: dict, prop: dict) -> bool:
    """A property has a description, its own or its block's."""
    ref = prop.get("$ref", "").rsplit("/", 1)[-1]
    return bool(prop.get("description") or schema["$defs"].get(ref, {}).get("description"))


def _dataclass_blocks(cls) -> dict:
    """Fields of ``cls`` whose type is a dataclass (Model.moe, Model.encoder, ...), with that dataclass."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        for arg in (hint, *typing.get_args(hint)):
            if dataclasses.is_dataclass(arg):
                out[name] = arg
    return out


def test_the_model_schema_is_the_model_dataclass_plus_the_documented_file_keys(printed):
    schema = printed["model"]
    assert set(schema["properties"]) == {f.name for f in dataclasses.fields(Model)} | set(files.MODEL_FILE_ONLY)
    blocks = _dataclass_blocks(Model)
    assert "moe" in blocks
    for name, cls in blocks.items():  # moe, and encoder once the vision encoder is in the model
        assert set(_properties(schema, schema["properties"][name])) == {f.name for f in dataclasses.fields(cls)}
    assert {"layers", "hidden", "heads", "ffn_hidden", "vocab", "name"} == set(schema["required"])
    if any(f.name == "encoder" for f in dataclasses.fields(Model)):
        assert "encoder" in schema["properties"]
    for name, prop in schema["properties"].items():
        assert _described(schema, prop), f"model.{name} has no description"


def test_the_chip_schema_places_every_chip_field_or_says_it_is_derived(printed):
    placed = set(files.CHIP_FILE.values())
    assert placed | set(files.CHIP_DERIVED) == {f.name for f in dataclasses.fields(Chip)}
    assert not placed & set(files.CHIP_DERIVED)
    schema = printed["chip"]
    keys = set()
    for name, prop in schema["properties"].items():
        inner = _properties(schema, prop) if name not in ("field_confidence", "measured", "efficiency") else {}
        keys |= {f"{name}.{k}" for k in inner} if name != "peak_flops" and inner else {name}
        assert _described(schema, prop), f"chip.{name} has no description"
    assert keys == set(files.CHIP_FILE) | set(files.CHIP_FILE_ONLY)
    efficiency = _properties(schema, schema["properties"]["efficiency"])
    assert set(efficiency) == {f.name for f in dataclasses.fields(Efficiency)} | set(files.EFFICIENCY_FILE_ONLY)
    assert set(_properties(schema, schema["properties"]["peak_flops"])) == set(DTYPES)
    capacity = schema["$defs"]["Hbm"]["properties"]["capacity"]["description"]
    assert "device memory capacity, bytes" in capacity and "GiB = 2^30" in capacity  # the docstring and the unit note


@pytest.mark.parametrize("change,words", [
    ({"tdp": "lots"}, "chips/x.yaml: field 'tdp': cannot read 'lots' as a quantity"),
    ({"scale_up": {"domain": "eight"}}, "chips/x.yaml: scale_up.domain must be a whole number, got 'eight'"),
    ({"price": {"usd_per_hour": "cheap"}}, "chips/x.yaml: price.usd_per_hour must be a positive number"),
    ({"hbm_size": 3}, "chips/x.yaml: unknown field 'hbm_size'; allowed: confidence, display_name"),
    ({"scale_up": [8]}, "chips/x.yaml: scale_up: expected a mapping of fields, got list"),
    ({"confidence": "sure"}, "chips/x.yaml: field 'confidence' must be one of high, medium, low"),
    ({"sources": [{"ref": "datasheet", "confidense": "high"}]},
     "chips/x.yaml: sources[0]: unknown field 'confidense'; did you mean 'confidence'?"),
])
def test_a_wrong_chip_field_is_the_same_one_line_through_the_loader_and_the_schema(tmp_path, printed, change, words):
    data = CHIP | change
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(BadInput) as via_schema:
        files.check("chip", data, "chips/x.yaml")
    with pytest.raises(BadInput) as via_loader:
        chip_from_dict(data, "chips/x.yaml")
    assert str(via_schema.value) == str(via_loader.value)
    assert str(via_schema.value).startswith(words) and "\n" not in str(via_schema.value)
    with pytest.raises(BadInput) as from_file:  # a user's file names itself
        catalog.load_chip(str(path))
    assert str(from_file.value).startswith(str(path)) and words.split(": ", 1)[1] in str(from_file.value)
    assert not jsonschema.Draft202012Validator(printed["chip"]).is_valid(data)  # an editor flags it too


@pytest.mark.parametrize("change", [{"layers": "many"}, {"layers": 2.5}, {"moe": [1, 2]}, {"layrs": 3},
                                    {"sources": 5}, {"tied_embeddings": "yes"},
                                    {"moe": {"experts": 8, "top_k": 2, "expert_ffn_hidden": 64, "balancing": "x"}}])
def test_a_wrong_model_field_is_refused_by_the_loader_and_the_printed_schema(printed, change):
    data = MODEL | change
    with pytest.raises(BadInput, match=r"^models/m.yaml: [^\n]+$"):
        model_from_dict(data, "models/m.yaml")
    assert not jsonschema.Draft202012Validator(printed["model"]).is_valid(data)


def test_file_only_keys_load_and_mean_nothing():
    plain = model_from_dict(dict(MODEL), "m")
    extras = {"attention_bias": True, "norm": "rmsnorm", "parallel_block": False, "mtp": 1}
    assert set(extras) == set(files.MODEL_FILE_ONLY)
    assert model_from_dict(MODEL | extras, "m") == plain
    chip = CHIP | {"hbm": CHIP["hbm"] | {"type": "HBM3"}, "scale_out": {"bandwidth": "400Gbps", "name": "CX7",
                                                                        "notes": "x"}}
    assert chip_from_dict(chip, "x").hbm_bytes == 80 * 2**30


def test_schema_model_prints_json_with_the_layers_and_encoder_fields(run_cli):
    code, out, err = run_cli("schema", "model")
    assert code == 0, err
    props = json.loads(out)["properties"]
    assert "layers" in props and props["layers"]["type"] == "integer" and props["layers"]["description"]
    assert ("encoder" in props) == any(f.name == "encoder" for f in dataclasses.fields(Model))


@pytest.mark.parametrize("argv,words", [(["schema", "chp"], "did you mean 'chip'?"),
                                        (["schema", "job", "--command", "tran"], "did you mean 'train'?"),
                                        (["schema", "chip", "--command", "train"], "--command")])
def test_a_bad_kind_is_one_line_and_exit_2(run_cli, argv, words):
    code, out, err = run_cli(*argv)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and not out


@pytest.mark.parametrize("command", ["train", "plan", "inference", "fleet", "sweep", "catalog"])
def test_the_job_schema_holds_every_option_a_job_file_takes(run_cli, command):
    code, out, err = run_cli("schema", "job", "--command", command)
    assert code == 0, err
    schema = json.loads(out)
    assert set(schema["properties"]) == {o.name for o in flags.options(command)} - {"config"}
    assert not schema.get("required")  # the command line may give what the file leaves out
    if command == "train":
        job = {"model": "llama3-8b", "chip": "h100-sxm", "devices": 16, "seq_len": 8192, "recompute": "full",
               "usd_per_device_hour": ["h100-sxm=2"], "json": True}
        jsonschema.Draft202012Validator(schema).validate(job)
        assert not jsonschema.Draft202012Validator(schema).is_valid(job | {"recompute": "some"})
        assert not jsonschema.Draft202012Validator(schema).is_valid(job | {"seq_len_": 1})


def test_the_http_api_answers_what_the_cli_prints(run_cli):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from xpuplan.web.app import app

    client = TestClient(app)
    for kind, query in (("chip", ""), ("model", ""), ("job", "?command=plan")):
        code, out, err = run_cli("schema", kind, *(["--command", "plan"] if query else []))
        assert code == 0, err
        answer = client.get(f"/api/schema/{kind}{query}")
        assert answer.status_code == 200 and answer.json() == json.loads(out)
    bad = client.get("/api/schema/chp")
    assert bad.status_code == 422 and "did you mean 'chip'?" in bad.text


def test_bundled_files_load_without_building_the_schema():
    """The catalog's own files are checked above, once, not on every start: a plan or ``xpuplan.train`` stays free of
    pydantic's model building (benchmarks/bench_startup.py)."""
    code = ("import sys, xpuplan; xpuplan.load_chip('h100-sxm'); xpuplan.load_model('llama3-8b'); "
            "print('pydantic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["False"], done.stderr


def test_the_python_api_gives_the_same_schema():
    import xpuplan

    assert xpuplan.schema("chip") == files.schema("chip")
    assert xpuplan.schema("job", "train")["title"] == "xpuplan train job file (--config)"
