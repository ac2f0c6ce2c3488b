import pytest

from xpuplan.units import GiB, UnitError, format_duration, format_si, parse_quantity


@pytest.mark.parametrize("text,kind,expected", [
    ("80GiB", "bytes", 80 * 2**30),
    ("80GB", "bytes", 80e9),
    ("3.35TB/s", "bytes_per_s", 3.35e12),
    ("400Gbps", "bytes_per_s", 50e9),
    ("450GB/s", "bytes_per_s", 450e9),
    ("989.4TFLOPS", "flops_per_s", 989.4e12),
    ("700W", "watts", 700.0),
    ("15T", "count", 15e12),
    ("16M", "count", 16e6),
    ("100B", "count", 100e9),
    ("2h", "seconds", 7200.0),
    (2048, "count", 2048.0),
])
def test_parse_quantity(text, kind, expected):
    assert parse_quantity(text, kind) == pytest.approx(expected)


@pytest.mark.parametrize("text,kind", [("80GB", "flops_per_s"), ("fast", "bytes"), ("400Gbps", "bytes"), ("1.2.3T", "count"), ("15X", "count")])
def test_parse_quantity_rejects_wrong_units(text, kind):
    with pytest.raises(UnitError, match="e.g."):
        parse_quantity(text, kind)


def test_formatting_names_units():
    assert format_si(9.894e14, "FLOP/s") == "989 TFLOP/s"
    assert format_duration(86400 * 36.5) == "36.5 days"
    assert format_duration(0.25) == "250 ms"
    assert GiB == 2**30
