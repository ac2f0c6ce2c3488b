import json

import pytest
import yaml

from xpuplan import catalog
from xpuplan.catalog import chip_from_dict, load_chip, load_model, load_system, model_from_dict
from xpuplan.cost.flops import active_params, total_params
from xpuplan.errors import BadInput, UnknownName

REQUIRED_CHIPS = ["a100-sxm-40gb", "a100-sxm-80gb", "h100-sxm", "h100-pcie", "h800", "h20", "h200", "b200", "gb200",
                  "gb300", "mi300x", "mi325x", "gaudi3", "tpu-v5p", "ascend-910b", "ascend-910c", "mlu590",
                  "mtt-s4000", "mtt-s5000", "k100", "c500", "br100", "p800",
                  # issue 18: the chips the 2026 news names, and NVIDIA's China and inference parts
                  "tiangai-150", "mlu690", "ascend-950pr", "ascend-950dt", "bw1000", "c600", "br166", "enflame-s60",
                  "enflame-l600", "k100-ai", "l20", "l40s", "l4", "a10g"]
REQUIRED_MODELS = ["llama2-7b", "llama2-13b", "llama2-70b", "llama3-8b", "llama3-70b", "llama3-405b", "gpt3-175b",
                   "mixtral-8x7b", "deepseek-v3", "qwen3-30b-a3b", "qwen3-235b-a22b", "telechat3-36b",
                   "telechat3-105b-a4.7b"]
REQUIRED_SYSTEMS = ["dgx-h100", "hgx-h800", "gb200-nvl72", "gb300-nvl72", "atlas-800t-a2", "cloudmatrix-384", "tpu-v5p-pod",
                    "kuae-s5000", "mccx-d800", "atlas-950-superpod", "c600-supernode", "enflame-esl-64",
                    "tianchi-p800-64", "aws-g5-48xlarge", "aws-g6-48xlarge", "aws-g6e-48xlarge"]


@pytest.mark.parametrize("name", REQUIRED_CHIPS)
def test_required_chips_have_sources_and_confidence(name):
    chip = load_chip(name)
    assert chip.sources, f"{name} has no sources"
    assert chip.confidence in ("high", "medium", "low")
    assert chip.hbm_bytes is None or chip.hbm_bytes > 8e9


@pytest.mark.parametrize("name", REQUIRED_MODELS)
def test_required_models_match_their_published_size(name):
    model = load_model(name)
    assert model.sources
    if model.params_total:
        # TeleChat3-105B's published total counts its MTP layer, which training FLOPs exclude
        assert total_params(model) == pytest.approx(model.params_total, rel=0.03)
    if model.params_active:
        assert active_params(model) == pytest.approx(model.params_active, rel=0.03)


@pytest.mark.parametrize("name", REQUIRED_SYSTEMS)
def test_required_systems_point_at_catalog_chips(name):
    system = load_system(name)
    assert system.chip in catalog.names("chips")


def test_every_catalog_file_loads():
    for kind, loader in (("chips", load_chip), ("models", load_model), ("systems", load_system),
                         ("frameworks", catalog.load_framework)):
        for name in catalog.names(kind):
            assert loader(name).name == name


def test_unknown_name_suggests_close_ones():
    with pytest.raises(UnknownName) as err:
        load_chip("h100-sxn")
    assert "h100-sxm" in str(err.value)
    assert "did you mean" in str(err.value)


def test_unknown_field_is_named():
    with pytest.raises(BadInput, match=r"unknown field 'hbm_size'"):
        chip_from_dict({"name": "x", "peak_flops": {"bf16": "100TFLOPS"}, "hbm": {"capacity": "80GB"}, "hbm_size": 3})


def test_missing_and_absurd_fields_are_named():
    with pytest.raises(BadInput, match="missing field 'hbm'"):
        chip_from_dict({"name": "x", "peak_flops": {"bf16": "100TFLOPS"}})
    with pytest.raises(BadInput, match="absurd"):
        chip_from_dict({"name": "x", "peak_flops": {"bf16": "1e30"}, "hbm": {"capacity": "80GB"}})
    with pytest.raises(BadInput, match="must be > 0"):
        chip_from_dict({"name": "x", "peak_flops": {"bf16": "100TFLOPS"}, "hbm": {"capacity": "-80GB"}})
    with pytest.raises(BadInput, match="kv_heads"):
        model_from_dict({"name": "m", "layers": 2, "hidden": 64, "heads": 8, "kv_heads": 3, "ffn_hidden": 128, "vocab": 100})


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "chip.yaml"
    bad.write_text("name: x\npeak_flops: {bf16: 1TFLOPS\nhbm: [\n")
    with pytest.raises(BadInput, match=r"chip.yaml: malformed YAML at line \d+"):
        load_chip(str(bad))


def test_chip_file_round_trips(tmp_path):
    data = {"name": "my-chip", "vendor": "acme", "peak_flops": {"bf16": "500TFLOPS"},
            "hbm": {"capacity": "96GB", "bandwidth": "2TB/s"}, "scale_up": {"bandwidth": "200GB/s", "domain": 8},
            "scale_out": {"bandwidth": "200Gbps"}, "sources": ["test"]}
    path = tmp_path / "my-chip.yaml"
    path.write_text(yaml.safe_dump(data))
    chip = load_chip(str(path))
    assert chip.peak("bf16") == 500e12 and chip.peak("fp8") == 500e12  # no fp8: falls back to bf16
    assert chip.scale_out_bytes_per_s == 25e9


def test_system_id_gives_its_chip_with_the_system_network():
    chip = load_chip("cloudmatrix-384")
    assert chip.name == "ascend-910c" and chip.scale_up_domain == 384
    assert load_chip("dgx-h100").peak("bf16") == load_chip("h100-sxm").peak("bf16")


def test_every_chip_states_its_device_memory_in_gib_one_convention():
    """Issue 18: an "80 GB" part of one vendor must not get 7% less memory than an "80 GB" part of another. DRAM is
    built in powers of two, so every chip file writes device memory in GiB (or null: unknown), and says why where the
    vendor writes GB."""
    import yaml

    from xpuplan.catalog import CATALOG_DIR, load_chip

    for path in sorted((CATALOG_DIR / "chips").glob("*.yaml")):
        capacity = (yaml.safe_load(path.read_text()).get("hbm") or {}).get("capacity")
        if capacity is None:
            continue
        assert str(capacity).endswith("GiB"), f"{path.name}: hbm.capacity {capacity!r} is not in GiB"
        number = float(str(capacity)[:-3])
        chip = load_chip(path.stem)
        assert chip.hbm_bytes == number * 2**30, path.name
        backing = chip.figure_sources.get("hbm.capacity", ())
        assert any("GiB" in ref for ref in backing), f"{path.name}: no source of hbm.capacity says why it is GiB"


# ------------------------------------------------------------------ issue 18: every chip plannable, sourced, priced

def _raw(name: str) -> dict:
    return yaml.safe_load((catalog.CATALOG_DIR / "chips" / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", catalog.names("chips"))
def test_every_catalog_chip_has_the_figures_a_plan_needs(name):
    """No catalog chip is refused for a missing figure: memory, its bandwidth, a half-precision peak and the links."""
    chip = load_chip(name)
    assert chip.hbm_bytes and chip.hbm_bytes_per_s, name
    assert chip.peak("bf16") > 1e12
    assert not {"scale_up.domain", "scale_up.bandwidth"} & set(chip.unpublished), name


@pytest.mark.parametrize("name", catalog.names("chips"))
def test_every_figure_has_its_sources_and_a_confidence(name):
    chip = load_chip(name)
    for key, value in chip.figures().items():
        if value is None:
            continue
        assert chip.figure_sources.get(key), f"{name}: {key} has no source (name it in a source's figures list)"
        assert chip.figure_confidence(key) in ("high", "medium", "low"), f"{name}: {key}"


@pytest.mark.parametrize("name", catalog.names("chips"))
def test_every_low_confidence_figure_comes_with_reasoning(name):
    """A low figure is an estimate or a rumour: the file says why, and names a low-confidence source for it."""
    chip = load_chip(name)
    low = [k for k, v in chip.figures().items() if v is not None and chip.figure_confidence(k) == "low"]
    if low:
        assert len(chip.notes) > 80, f"{name}: low-confidence figures {low} but no reasoning in notes"


@pytest.mark.parametrize("name", catalog.names("chips"))
def test_every_chip_has_a_sourced_price_or_says_there_is_none(name):
    chip = load_chip(name)
    priced = [k for k in ("price.purchase_usd", "price.usd_per_hour") if chip.figures()[k] is not None]
    if priced:
        assert chip.price_date, f"{name}: a price needs the date it was quoted (price.date)"
        for key in priced:
            assert chip.figure_sources.get(key), f"{name}: {key} has no source"
    else:
        assert chip.price_note.startswith("no public price"), \
            f"{name}: no price and no 'no public price: ...' note in price.note"


def test_catalog_chips_json_lists_every_figure_with_source_confidence_and_price(run_cli):
    code, out, err = run_cli("catalog", "chips", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == set(catalog.names("chips"))
    for name, row in rows.items():
        raw = _raw(name)
        assert row["figures"]["hbm.capacity"]["unit"] == "bytes"
        assert row["figures"]["peak_flops.bf16"]["unit"] == "FLOP/s" or "bf16" not in raw["peak_flops"]
        for key, figure in row["figures"].items():
            assert figure["sources"] and figure["confidence"] in ("high", "medium", "low"), (name, key)
        price = row["price"]
        assert price["purchase_usd"] or price["usd_per_hour"] or price["note"].startswith("no public price"), name
    # the figure a file marks low is listed low, with the overall confidence as the default
    assert rows["mlu590"]["figures"]["peak_flops.bf16"]["confidence"] == "low"
    assert rows["h100-sxm"]["figures"]["peak_flops.bf16"]["confidence"] == "high"
    assert rows["h100-sxm"]["price"]["usd_per_hour"] == 2.35


def test_nvidia_sparse_datasheet_figures_are_halved_to_dense():
    """NVIDIA quotes L40S 733 and L4 242 TFLOPS BF16 'with sparsity'; the catalog stores the dense half."""
    assert load_chip("l40s").peak("bf16") == pytest.approx(362.05e12)
    assert load_chip("l4").peak("bf16") == pytest.approx(121e12)
    for name in ("l40s", "l4"):
        assert "halved" in load_chip(name).notes


@pytest.mark.parametrize("price,match", [
    ({"purchase_usd": -5}, "price.purchase_usd must be a positive number"),
    ({"usd_per_hour": "cheap"}, "price.usd_per_hour must be a positive number"),
    ({"usd_per_houre": 2}, "unknown field 'usd_per_houre'"),
])
def test_a_bad_price_block_names_the_field(price, match):
    with pytest.raises(BadInput, match=match):
        chip_from_dict({"name": "x", "peak_flops": {"bf16": "100TFLOPS"}, "hbm": {"capacity": "80GiB"}, "price": price})


def test_a_source_naming_an_unknown_figure_suggests_the_key():
    data = {"name": "x", "peak_flops": {"bf16": "100TFLOPS"}, "hbm": {"capacity": "80GiB"},
            "sources": [{"ref": "datasheet", "figures": ["hbm.capacty"]}]}
    with pytest.raises(BadInput, match="unknown figure 'hbm.capacty'; did you mean hbm.capacity"):
        chip_from_dict(data)
    data["sources"][0]["figures"] = ["peak_flops", "hbm"]
    chip = chip_from_dict(data)
    assert chip.figure_sources["peak_flops.bf16"] == ("datasheet",) and chip.figure_sources["hbm.bandwidth"]


def test_an_older_engine_release_is_its_current_profile_with_what_differs(tmp_path):
    """`like: <engine>` in a serving profile: the base profile's keys, the file's own on top, its sources first; a
    base that is not another file of the directory is one line naming the field."""
    from xpuplan.catalog.files import with_base
    from xpuplan.errors import BadInput

    (tmp_path / "base.yaml").write_text("name: base\nversion: '2'\nmax_batch: 64\ncovers: ['1.9']\nsources: [b]\n")
    merged = with_base({"name": "base@1", "like": "base", "version": "1", "sources": ["a"]}, tmp_path,
                       ["base", "base@1"], "serving/base@1.yaml")
    assert merged == {"name": "base@1", "version": "1", "max_batch": 64, "sources": ["a", "b"]}
    for like in ("nothing", "base@1"):
        with pytest.raises(BadInput, match="like must name another file of"):
            with_base({"name": "base@1", "like": like}, tmp_path, ["base", "base@1"], "serving/base@1.yaml")
    (tmp_path / "base@1.yaml").write_text("name: base@1\nlike: base\nversion: '1'\nmax_batch: 32\ncovers: ['1.5']\n")
    chained = with_base({"name": "base@0", "like": "base@1", "version": "0"}, tmp_path, ["base", "base@1", "base@0"],
                        "serving/base@0.yaml")  # an older release says how it differs from the next newer one
    assert chained == {"name": "base@0", "version": "0", "max_batch": 32, "sources": ["b"]}
    (tmp_path / "a.yaml").write_text("name: a\nlike: b\n")
    (tmp_path / "b.yaml").write_text("name: b\nlike: a\n")
    with pytest.raises(BadInput, match="like forms a cycle through a"):
        with_base({"name": "a", "like": "b"}, tmp_path, ["a", "b"], "serving/a.yaml")
    old = catalog.load_engine("vllm@0.10")
    assert old.max_batched_tokens == catalog.load_engine("vllm").max_batched_tokens and old.covers
    assert old.large_device_bytes is None  # through vllm@0.14 and vllm@0.20, which have no 160 GiB tier
