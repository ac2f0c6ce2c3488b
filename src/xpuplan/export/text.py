"""Writing and reading the flag files the exporters produce.

A flags file is comment lines (``#``: what it follows, what it was made from) and then either one ``--flag value``
per line (Megatron-style argument files, used as ``$(grep -v '^#' FILE)``) or one command continued over lines with
a backslash (``vllm serve``, ``python -m sglang.launch_server``). :func:`read_flags` reads both back.
"""

from __future__ import annotations

import argparse
import shlex

from ..errors import BadInput

Flag = tuple[str, object]
"""one flag and its value (None: a flag that takes no value)"""


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return shlex.quote(str(value))


def comments(lines: list[str]) -> str:
    return "".join(f"# {line}\n" for line in lines)


def flag_lines(flags: list[Flag]) -> str:
    """One ``--flag value`` per line."""
    return "".join(f"{name}\n" if value is None else f"{name} {_value(value)}\n" for name, value in flags)


def command(head: list[str], flags: list[Flag]) -> str:
    """``head`` then every flag, continued over lines."""
    parts = [" ".join(head)] + [name if value is None else f"{name} {_value(value)}" for name, value in flags]
    return " \\\n  ".join(parts) + "\n"


def tokens(text: str) -> list[str]:
    """The arguments of a flags file: comments dropped, continuations joined, words split as a shell would, and
    whatever precedes the first flag (the program and its positional arguments) left out."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    try:
        words = shlex.split(body.replace("\\\n", " "))
    except ValueError as exc:
        raise BadInput(f"cannot split the flags: {exc}", "text") from None
    first = next((i for i, w in enumerate(words) if w.startswith("--")), len(words))
    return words[first:]


def read_flags(text: str, arity: dict[str, int]) -> dict[str, object]:
    """The flags of ``text`` that ``arity`` names (flag -> number of values, 0 for a switch), by flag; other flags
    (data paths, tokenizer, ...) are passed over."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for flag, n in arity.items():
        if n == 0:
            parser.add_argument(flag, dest=flag, action="store_true", default=None)
        else:
            parser.add_argument(flag, dest=flag, default=None)
    known, _ = parser.parse_known_args(tokens(text))
    return {k: v for k, v in vars(known).items() if v is not None}


def whole(value, flag: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadInput(f"{flag} must be a whole number, got {value!r}", flag) from None


def cannot(fmt: str, what: str, field: str) -> BadInput:
    """The one line for a plan ``fmt`` cannot express: the format, what it lacks, and the flag to change."""
    return BadInput(f"{fmt} cannot express {what}", field)
