"""The package as pip installs it: a wheel built from this checkout, installed into a fresh venv, answers
``xpuplan --version``, ``python -m xpuplan`` and ``xpuplan validate`` from a folder outside the checkout.

Offline and quick (about 10 s): the wheel is built without build isolation (the project venv's setuptools, when it
is recent enough) from a copy of the sources, so nothing is written into the checkout; the fresh venv gets only the wheel (``--no-deps``) and
reaches the dependencies through a ``.pth`` line naming the project venv's site-packages (that folder's own ``.pth``
files, among them the editable install's, are not read).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = ROOT / "data" / "validation"


def _isolation() -> list[str]:
    """Build with the project venv's setuptools when it is recent enough (offline, quick); else let pip fetch it."""
    try:
        return ["--no-build-isolation"] if int(version("setuptools").split(".")[0]) >= 77 else []
    except PackageNotFoundError:
        return []


def _run(*argv, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(the wheel, the fresh venv's bin folder, a working folder outside the checkout)."""
    tmp = tmp_path_factory.mktemp("package")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(VALIDATION, source / "data" / "validation")
    done = _run(sys.executable, "-m", "pip", "wheel", source, "--no-deps", *_isolation(), "-q", "-w", tmp / "dist")
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("xpuplan-*.whl")
    venv = tmp / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", venv).returncode == 0
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    purelib = _run(bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout
    Path(purelib.strip(), "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = _run(sys.executable, "-m", "pip", "--python", bin_dir / "python", "install", "--no-deps", "--no-index",
                "-q", wheel)
    assert done.returncode == 0, done.stderr[-2000:]
    outside = tmp / "elsewhere"
    outside.mkdir()
    return wheel, bin_dir, outside


def test_the_wheel_carries_the_license_the_type_marker_and_the_published_runs(built):
    wheel, _, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "xpuplan/py.typed" in names and "xpuplan/__main__.py" in names
    assert "xpuplan/catalog/accuracy.yaml" in names  # every estimate's expected_error reads it
    packaged = sorted(n.removeprefix("xpuplan/_validation/") for n in names if n.startswith("xpuplan/_validation/"))
    assert packaged == sorted(str(p.relative_to(VALIDATION)) for p in VALIDATION.rglob("*") if p.is_file())
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata and "Classifier: Typing :: Typed" in metadata


def test_version_and_module_entry_point_outside_the_checkout(built):
    wheel, bin_dir, outside = built
    expected = wheel.name.split("-")[1]
    for argv in ([bin_dir / "xpuplan", "--version"], [bin_dir / "python", "-m", "xpuplan", "--version"]):
        done = _run(*argv, cwd=outside)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"xpuplan {expected}"
    where = _run(bin_dir / "python", "-c", "import xpuplan; print(xpuplan.__file__, xpuplan.__version__)", cwd=outside)
    path, reported = where.stdout.split()
    assert Path(path).is_relative_to(bin_dir.parent) and reported == expected  # the wheel, not the checkout


def test_validate_runs_from_the_installed_data_outside_the_checkout(built):
    _, bin_dir, outside = built
    done = _run(bin_dir / "xpuplan", "validate", "--json", cwd=outside)
    assert done.returncode == 0, done.stderr[-2000:]
    installed = json.loads(done.stdout)
    here = _run(sys.executable, "-m", "xpuplan", "validate", "--json", cwd=ROOT)
    assert installed == json.loads(here.stdout)  # the same runs, the same predictions as in the checkout
    assert len(installed["runs"]) > 100
