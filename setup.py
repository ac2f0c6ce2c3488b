"""Build hook only (every other setting is in pyproject.toml): the wheel carries the published runs of
``data/validation`` as ``xpuplan/_validation``, so that ``xpuplan validate`` works from an installed package.

``data/validation`` stays the one copy in git; it is copied at build time (an editable install reads it in place).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

VALIDATION = Path(__file__).resolve().parent / "data" / "validation"


class BuildPyWithValidation(build_py):
    """``build_py`` that also copies data/validation into the built package."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            shutil.copytree(VALIDATION, Path(self.build_lib) / "xpuplan" / "_validation", dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithValidation})
