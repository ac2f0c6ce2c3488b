"""Fuzzing: the HTTP API from its own schema (schemathesis), the Python API from the options table (hypothesis).

Whatever comes in, the answer is a result, a one-line refusal (BadInput/DoesNotFit; HTTP 422/409/413), never a
traceback or a 500. Examples are bounded so the suite stays quick.
"""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xpuplan import api, catalog, flags, report

schemathesis = pytest.importorskip("schemathesis")
from xpuplan.web.app import app  # noqa: E402

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.include(path_regex="^/api/").parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_http_api_never_answers_500(case):
    response = case.call()
    assert response.status_code < 500, (case.path, case.body, response.text[:300])


NAMES = {"model": catalog.names("models")[:6], "chip": ["h800", "h100-sxm", "ascend-910b", "mlu590", "gb200"],
         "framework": catalog.names("frameworks"), "engine": catalog.names("serving")}
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=300), st.just("1e400"), st.just("../../etc/passwd"), st.just("9..3"))


def _value(option, command):
    good = [option.example, option.default_for(command)] + NAMES.get(option.name, [])
    if option.choices:
        good += list(option.choices)
    good = st.sampled_from([g for g in good if g is not None] or [None])
    return st.one_of(good, good, JUNK)  # mostly sensible values, some junk


def _args(command):
    small = {"devices": st.sampled_from([1, 2, 8, 16, "8", "8..32", -1, 0]), "top": st.sampled_from([1, 2])}
    fields = {o.name: small.get(o.name, _value(o, command)) for o in flags.options(command, http=True)}
    return st.fixed_dictionaries({}, optional=fields)


@pytest.mark.parametrize("command", ["train", "compare", "inference", "plan"])
def test_python_api_answers_or_refuses_in_one_line(command):
    base = {"train": {"model": "llama3-8b", "chip": "h800", "devices": 8},
            "compare": {"model": "llama3-8b", "chip": ["h800"], "devices": 8},
            "inference": {"model": "llama3-8b", "chip": "h800", "devices": 1},
            "plan": {"model": "llama3-8b", "chip": "h800", "devices": "8"}}[command]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(extra=_args(command))
    def run(extra):
        args = flags.defaults(command, http=True) | base | extra
        try:
            result = api.run(command, args, files=False)
        except (api.BadInput, api.DoesNotFit) as exc:
            message = str(exc)
            assert message and "\n" not in message and "Traceback" not in message
            return
        text = report.to_json(report.as_json(result))
        assert "NaN" not in text and "Infinity" not in text
        for r in result if isinstance(result, list) else getattr(result, "plans", [result]):
            step = getattr(r, "step_time_s", None)
            assert step is None or (math.isfinite(step) and step > 0)

    run()
