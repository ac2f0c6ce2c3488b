"""``python -m xpuplan``: the command line (:mod:`xpuplan.cli`)."""

from .cli import main

main()
