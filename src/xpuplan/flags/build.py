"""The CLI's typer commands and the HTTP API's pydantic bodies, generated from :data:`xpuplan.flags.OPTIONS`."""

from __future__ import annotations

import inspect
from enum import Enum
from typing import Callable, Optional

from . import CATALOG_ID, MAX_LIST, MAX_TEXT, Option, options


def _enum(option: Option) -> type[Enum]:
    return Enum(option.name.title().replace("_", ""), {c: c for c in option.choices}, type=str)


def typer_command(command: str, handle: Callable[[dict], None]) -> Callable:
    """A function typer can register for ``command``: its parameters are the table's options, and it calls
    ``handle`` with every value by name (choices as plain strings)."""
    import typer

    params, annotations = [], {}
    for o in options(command):
        kind = _enum(o) if o.choices else o.kind
        annotation = list[kind] if o.many else (kind if (o.kind is bool and not o.off_flag) or o.default_for(command)
                                                  is not None and command not in o.required else Optional[kind])
        default = o.default_for(command)
        if isinstance(default, str) and o.choices:
            default = kind(default)
        required = command in o.required
        if o.argument:
            info = typer.Argument(... if required else default, help=o.help)
        else:
            spelling = f"{o.cli_flag}/{o.off_flag}" if o.off_flag else o.cli_flag
            info = typer.Option(... if required else default, spelling, help=o.help,
                                rich_help_panel=o.panel.upper() if o.panel == "rl" else o.panel.capitalize())
        params.append(inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation))
        annotations[o.name] = annotation

    def run(**values) -> None:
        values.pop("config", None)  # the job file was read into the command line before parsing (cli.main)
        handle({k: [x.value if isinstance(x, Enum) else x for x in v] if isinstance(v, list) else
                (v.value if isinstance(v, Enum) else v) for k, v in values.items()})

    run.__signature__ = inspect.Signature(params)
    run.__annotations__ = annotations
    run.__name__ = command
    return run


# ---------------------------------------------------------------------------------------------- pydantic

def request_body(command: str, job_file: bool = False):
    """The pydantic model of ``POST /api/<command>``: the command's HTTP options with the table's types, defaults
    and bounds; unknown fields, wrong types, non-finite numbers and file paths are refused (HTTP 422).

    ``job_file``: the model of a job file (``--config job.yaml``, ``xpuplan schema job``) instead: every option of the
    command but ``config``, none required (the command line may give them), files and documents as text."""
    from typing import Annotated, Any, Literal, Union

    from pydantic import ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, create_model

    fields = {}
    for o in options(command, http=not job_file):
        if o.name == "config":
            continue
        if o.document and not job_file:
            kind = dict[Annotated[StrictStr, Field(max_length=MAX_TEXT)], Any]
        elif o.choices:
            kind = Literal[o.choices]
        elif o.kind is bool:
            kind = StrictBool
        elif o.kind is int:
            kind = StrictInt
        elif o.kind is float:
            kind = Annotated[Union[StrictFloat, StrictInt], Field(allow_inf_nan=False)]
        elif o.unit:
            kind = Union[Annotated[StrictStr, Field(max_length=MAX_TEXT)], StrictInt,
                         Annotated[StrictFloat, Field(allow_inf_nan=False)]]  # "15T", 1.5e13, or 1024
        else:
            kind = Annotated[StrictStr, Field(max_length=MAX_TEXT, pattern=CATALOG_ID if o.catalog_id and not job_file
                                              else None)]
        bounds = {k: getattr(o, k) for k in ("ge", "gt", "le", "lt") if getattr(o, k) is not None}
        if bounds:
            kind = Annotated[kind, Field(**bounds)]
        if o.many:  # one value, or a list of them
            kind = Union[kind, Annotated[list[kind], Field(max_length=MAX_LIST)]]
        elif job_file or command not in o.required and o.default_for(command) is None:
            kind = Optional[kind]
        default = ... if command in o.required and not job_file else o.default_for(command)
        described = Field(default, description=o.help + (f" [{o.unit}]" if o.unit else ""),
                          alias=o.name if o.name == "json" else None)  # a field may not be named BaseModel.json
        fields[o.name + "_" if o.name == "json" else o.name] = (kind, described)
    config = ConfigDict(extra="forbid", str_max_length=MAX_TEXT)
    return create_model(f"{command.title()}{'Job' if job_file else 'Body'}", __config__=config, **fields)
