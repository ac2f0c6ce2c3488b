"""A fast start (issue 20): ``import xpuplan`` and ``xpuplan --help`` load no numerical, plotting, web or data-frame
library; the public names still load on first use, and ``--version`` answers from the package metadata.

The times themselves are in benchmarks/bench_startup.py; these tests lock what is imported, which does not vary
with the machine.
"""

import subprocess
import sys
import types
from importlib.metadata import version

import xpuplan

HEAVY = ("numpy", "scipy", "plotly", "fastapi", "pydantic", "pandas", "pyarrow", "ray", "yaml", "xpuplan.api",
         "xpuplan.cost", "xpuplan.catalog")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1].split()[1:]


def test_import_and_help_load_nothing_heavy():
    assert _loaded_after("import xpuplan") == []
    assert _loaded_after("import xpuplan.cli") == []
    help_then_list = ("from xpuplan import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass")
    assert _loaded_after(help_then_list) == []


def test_version_comes_from_the_installed_metadata(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0 and out.strip() == f"xpuplan {version('xpuplan')}"
    assert xpuplan.__version__ == version("xpuplan")


def test_public_names_load_on_use_and_rl_fleet_stay_the_functions():
    import xpuplan.fleet.milp  # noqa: F401  (binding the submodules must not shadow the functions)
    import xpuplan.rl  # noqa: F401

    assert callable(xpuplan.rl) and not isinstance(xpuplan.rl, types.ModuleType)
    assert callable(xpuplan.fleet) and not isinstance(xpuplan.fleet, types.ModuleType)
    assert xpuplan.rl is xpuplan.api.rl and xpuplan.fleet is xpuplan.api.fleet
    assert sys.modules["xpuplan.rl"].__name__ == "xpuplan.rl"
    assert xpuplan.Model is sys.modules["xpuplan.specs"].Model


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "xpuplan", "catalog", "models", "--json"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "llama3-405b" in done.stdout
