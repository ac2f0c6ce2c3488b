"""Options every command shares: ``--config job.yaml`` (a job file of option values) and ``--csv`` /
``--parquet`` (the result's rows as a table).

A job file is a YAML mapping whose keys are the options' names as the table spells them (``seq_len``,
``global_batch``; ``-`` is read as ``_``) and whose values are what the flags would take (lists for repeatable
options). :func:`with_job_file` turns it into command-line words placed before the user's own, so a flag given on
the command line overrides the file and every value is parsed and checked exactly as a flag is. An unknown key is
one line naming it and the closest known option. The file is read by the caller (:mod:`xpuplan.catalog.jobs`);
nothing here does I/O.
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import BadInput
from . import Option, options
from .check import _check_value

TABLE_COMMANDS = ("train", "compare", "plan", "inference", "rl", "fleet", "catalog", "validate")
"""commands whose result can be written as rows (--csv, --parquet)"""


def shared_rows(commands: tuple[str, ...]) -> tuple[Option, ...]:
    return (
        Option(name="config", kind=str, help="job file (YAML): option names as keys (seq_len: 8192); flags given "
               "on the command line override it", commands=commands, http=False, panel="job"),
        Option(name="csv", kind=str, help="also write the result's rows to this CSV file (nested fields as dotted "
               "columns)", commands=TABLE_COMMANDS, http=False, panel="output"),
        Option(name="parquet", kind=str, help="also write the result's rows to this Parquet file (nested fields as "
               "dotted columns)", commands=TABLE_COMMANDS, http=False, panel="output"),
    )


def config_path(argv: list[str]) -> str | None:
    """The file named by ``--config FILE`` or ``--config=FILE`` in ``argv``, if any."""
    for i, word in enumerate(argv):
        if word == "--config":
            if i + 1 >= len(argv):
                raise BadInput("--config needs a file: --config job.yaml", "config")
            return argv[i + 1]
        if word.startswith("--config="):
            return word.split("=", 1)[1]
    return None


def _given(o: Option, argv: list[str]) -> bool:
    spellings = {o.cli_flag, "--no-" + o.cli_flag[2:]} | ({o.off_flag} if o.off_flag else set())
    return any(w in spellings or w.split("=", 1)[0] in spellings for w in argv)


def _words(o: Option, value: Any, where: str) -> list[str]:
    """The command-line words that give ``value`` to option ``o``."""
    if o.kind is bool:
        if not isinstance(value, bool):
            raise BadInput(f"{where}: {o.name} is yes/no (true or false), got {value!r}", o.name)
        return [o.cli_flag] if value else ([o.off_flag] if o.off_flag else [])
    values = value if isinstance(value, list) else [value]
    if len(values) != 1 and not o.many:
        raise BadInput(f"{where}: {o.name} takes one value, got a list", o.name)
    out: list[str] = []
    for v in values:
        try:
            _check_value(o, v)
        except BadInput as exc:
            raise BadInput(f"{where}: {exc}", o.name) from None
        out += [str(v)] if o.argument else [o.cli_flag, str(v)]
    return out


def with_job_file(command: str, argv: list[str], data: Any, where: str) -> list[str]:
    """``argv`` (the words after the command) with the job file's options put first, except those ``argv`` gives."""
    if not isinstance(data, dict):
        raise BadInput(f"{where}: a job file is a mapping of options (seq_len: 8192), got {type(data).__name__}",
                       "config")
    by_name = {o.name: o for o in options(command) if o.name != "config"}
    words: list[str] = []
    for key, value in data.items():
        name = str(key).replace("-", "_")
        o = by_name.get(name)
        if o is None:
            close = difflib.get_close_matches(name, list(by_name), n=1, cutoff=0.0)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise BadInput(f"{where}: unknown option {str(key)!r} for {command}{hint}", name)
        positional = bool(argv) and not argv[0].startswith("-")
        if value is None or (o.argument and positional) or _given(o, argv):
            continue
        words += _words(o, value, where)
    return words + argv
