"""The exceptions xpuplan raises on purpose.

::

    XpuplanError                    base of everything below
    ├── BadInput (ValueError)       input a user can fix: a flag, a field, a file  -> CLI exit 2, HTTP 422
    │   └── UnknownName (KeyError)  a chip/model/system name not in the catalog, with close matches
    └── DoesNotFit                  a valid job that cannot run, e.g. out of memory -> CLI exit 3

Every message is one line that names the field and the fix. Anything else
escaping the package is a bug (CLI exit 1).
"""

from __future__ import annotations

import difflib


class XpuplanError(Exception):
    """Base class of the errors xpuplan raises on purpose."""


class BadInput(XpuplanError, ValueError):
    """Input a user can fix; ``field`` names what is wrong."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnknownName(BadInput, KeyError):
    """A catalog name that does not exist; the message suggests the closest ones."""

    def __init__(self, kind: str, name: str, known: list[str], field: str | None = None):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        if not close:
            close = [k for k in known if name.lower() in k.lower()][:3]
        hint = f"; did you mean {', '.join(close)}?" if close else f"; see `xpuplan catalog {kind}s`"
        super().__init__(f"unknown {kind} {name!r}{hint}", field or kind)
        self.suggestions = close

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DoesNotFit(XpuplanError):
    """A well-formed job that cannot run as asked (memory, degrees against devices). ``printed``: its estimate has
    already gone to stdout under ``--json`` with the error keys in it, so no second JSON object follows."""

    def __init__(self, message: str, printed: bool = False):
        super().__init__(message)
        self.printed = printed
