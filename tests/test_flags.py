"""The options table: one declaration per option and command, and the CLI and HTTP faces generated from it agree."""

import inspect
import json

import pytest

from xpuplan import api, flags
from xpuplan.report import as_json


def test_each_option_is_declared_once_per_command():
    for command in flags.COMMANDS:
        names = [o.name for o in flags.options(command)]
        assert len(names) == len(set(names)), f"{command}: {names}"
        spellings = [o.cli_flag for o in flags.options(command) if not o.argument]
        assert len(spellings) == len(set(spellings))


def test_every_option_is_documented_and_well_formed():
    for o in flags.OPTIONS:
        assert o.help and o.kind in (int, float, str, bool), o.name
        assert set(o.commands) <= set(flags.COMMANDS) and o.panel in flags.PANELS
        assert set(o.required) <= set(o.commands)
        for command in o.commands:
            default = o.default_for(command)
            if o.choices and default is not None:
                assert default in o.choices
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                assert o.ge is None or default >= o.ge
                assert o.le is None or default <= o.le
        if o.example is not None and o.kind is not str and not o.many:
            assert isinstance(o.example, o.kind) or (o.kind is float and isinstance(o.example, int)), o.name


@pytest.mark.parametrize("command", flags.COMMANDS)
def test_the_cli_takes_every_option_with_the_tables_default(command):
    sig = inspect.signature(flags.typer_command(command, lambda args: None))
    assert list(sig.parameters) == [o.name for o in flags.options(command)]
    for o in flags.options(command):
        info = sig.parameters[o.name].default
        if command in o.required:
            assert info.default is ...
        else:
            value = getattr(info.default, "value", info.default)
            assert value == o.default_for(command), (command, o.name)


@pytest.mark.parametrize("command", flags.HTTP_COMMANDS)
def test_the_http_body_takes_every_http_option_with_the_tables_default(command):
    pytest.importorskip("pydantic")
    fields = flags.request_body(command).model_fields
    assert list(fields) == [o.name for o in flags.options(command, http=True)]
    for o in flags.options(command, http=True):
        if command in o.required:
            assert fields[o.name].is_required()
        else:
            assert fields[o.name].default == o.default_for(command), (command, o.name)
    assert {"costs", "plot", "json"}.isdisjoint(fields)  # files and output channels are CLI-only


def test_run_options_are_the_reliability_and_cost_panels():
    assert set(flags.RUN_OPTION_NAMES) == {o.name for o in flags.options("train") if o.panel in ("reliability", "cost")}
    assert len(flags.RUN_OPTION_NAMES) == 18


SILENCE_BASES = {
    "train": dict(model="llama3-8b", chip="h100-sxm", devices=16),
    "compare": dict(model="llama3-8b", chip=["h100-sxm", "h800"], devices=16),
    "plan": dict(model="llama3-8b", chip="h100-sxm", devices=8, top=2),
    "inference": dict(model="deepseek-v3", chip="h200", devices=16, precision="fp8"),
    "rl": dict(model="llama3-8b", chip="h100-sxm", devices=8, rollouts_per_step=256, train_global_batch=64,
               prompt_len=512, response_len=1024, max_seq_len=4096),
}
SAME_AS_RESOLVED = {
    ("train", "dp"), ("train", "ep"), ("train", "etp"), ("compare", "dp"), ("compare", "ep"), ("compare", "etp"),
    ("inference", "dp"), ("inference", "ep"), ("inference", "kv_precision"),  # the example is what the base resolves to
    ("train", "memory_margin"), ("compare", "memory_margin"),  # a threshold the base job stays inside
    ("rl", "override"),  # scale_up.domain=16 on a job of 8 devices
    ("plan", "allow_cross_domain_tp"),  # 8 devices are one scale-up domain
    ("plan", "zero_shard"),  # 8: the whole data-parallel group of 8 devices, the default
    ("plan", "objective"),  # cost: at one device count and price the cheapest plan is the fastest
}
"""(command, option) pairs whose example leaves the base job's output as it is, and why"""


def _answer(command: str, args: dict) -> str:
    from xpuplan.errors import BadInput, DoesNotFit

    try:
        result = api.run(command, dict(args), files=False)
    except (BadInput, DoesNotFit) as exc:
        return f"refused: {exc}"
    return json.dumps(as_json(result), sort_keys=True, default=str)


@pytest.mark.parametrize("command", sorted(SILENCE_BASES))
def test_no_option_is_silently_ignored(command):
    """Every option the table gives an example either changes the answer or is refused with a line naming it;
    none is dropped without a word (the standards: never a silent default)."""
    base = SILENCE_BASES[command]
    plain = _answer(command, base)
    assert not plain.startswith("refused"), plain
    for o in flags.options(command, http=True):
        if o.name in base or o.example is None or (command, o.name) in SAME_AS_RESOLVED:
            continue
        answer = _answer(command, dict(base, **{o.name: o.example}))
        assert answer != plain, f"{command} --{o.name.replace('_', '-')} {o.example!r} changed nothing"
