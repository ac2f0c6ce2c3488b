"""The layers hold: faces -> api -> domain -> cost -> specs, no file I/O below the catalog, no import cycles.

Read from the source with ``ast`` (imports inside functions count too), so a lazy import cannot hide a breach.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "xpuplan"

# Each module's floor; a module may import its own floor or lower ones, never higher.
FLOORS = {
    "units": 0, "errors": 0,
    "specs": 1,
    "plan": 2, "flags": 2, "advice": 3,
    "cost": 3, "catalog": 3,
    "results": 4, "economics": 4, "reliability": 4,
    "training": 5, "search": 5, "serving": 5, "hetero": 5, "rl": 5, "rl_search": 5, "rollout": 5, "devices": 5,
    "validate": 6, "probe": 6, "fleet": 6, "export": 6,
    "report": 7,
    "api": 8, "sweep": 8,  # grids of api calls: beside the api, under the faces
    "scenarios": 8,  # the seed questions answered by api calls, written as a page: beside the api, under the faces
    "cli": 9, "web": 9, "__init__": 9, "__main__": 9,
}
DOMAIN_AND_BELOW = 5
FACES = {"cli", "web.app"}
FACE_MAY_IMPORT = {"flags", "api", "report", "sweep", "scenarios"}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The xpuplan modules ``name`` imports (resolved relative imports, the module not its names)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("xpuplan"):
                target = node.module.removeprefix("xpuplan").lstrip(".")
            else:
                continue
            for alias in node.names:  # `from . import api` names a module
                sub = f"{target}.{alias.name}".lstrip(".")
                found.add(sub if sub in MODULES else target)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("xpuplan.") for a in node.names if a.name.startswith("xpuplan.")}
    return {f for f in found if f and f != name and f in MODULES}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _floor(name: str) -> int:
    return FLOORS[name.split(".")[0]] if name else FLOORS["__init__"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_runs_up_a_floor(name):
    up = [t for t in GRAPH[name] if _floor(t) > _floor(name) and not t.startswith(name.split(".")[0] + ".")
          and t != name.split(".")[0]]
    assert not up, f"{name} (floor {_floor(name)}) imports {up} from higher floors"


def test_faces_import_only_the_options_table_the_api_and_the_reports():
    for face in FACES:
        other = {t for t in GRAPH[face] if t.split(".")[0] not in FACE_MAY_IMPORT and t.split(".")[0] != "web"}
        assert not other, f"{face} imports {other}"


def test_nothing_below_the_api_reads_a_name_from_the_catalog_except_validation_and_the_probe():
    for name, targets in GRAPH.items():
        if _floor(name) <= DOMAIN_AND_BELOW and name.split(".")[0] != "catalog":
            assert "catalog" not in targets, f"{name} loads from the catalog (I/O) below the api"


def test_no_file_io_below_the_catalog():
    for name, path in MODULES.items():
        if _floor(name) <= DOMAIN_AND_BELOW and name.split(".")[0] != "catalog":
            text = path.read_text()
            for call in ("open(", "read_text(", "yaml.", "write_text("):
                assert call not in text, f"{name} does file I/O ({call})"


def test_no_import_cycles():
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in GRAPH[node]:
            if nxt.startswith(node + "."):  # a package importing its own submodules is not a cycle
                continue
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(trail + [node, nxt])}")
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_file_over_the_size_of_one_concept(name):
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines (> {MAX_LINES}): split it"


def test_every_module_has_a_floor():
    assert {n.split(".")[0] for n in MODULES if n} <= set(FLOORS)
