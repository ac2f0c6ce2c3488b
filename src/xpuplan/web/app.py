"""FastAPI app: the estimators as JSON endpoints, and a page that plots their answers.

Every endpoint ``POST /api/<command>`` takes the CLI's flags as JSON fields (``seq_len`` for ``--seq-len``; the
fleet's FLEET and WORKLOADS as JSON objects), its body generated from the one options table (:mod:`xpuplan.flags`),
and answers exactly the CLI's ``--json`` object (both call :func:`xpuplan.api.run`; ``POST /api/export`` answers the
launch file's text in ``export --json``'s object). Bad input is HTTP 422 naming the field; a job that cannot fit is
409 with the reason. Requests cannot name files: chips, models and frameworks are catalog ids only. Bodies over 1 MiB are
refused, and so is a plan search larger than ``MAX_SEARCH_PLANS`` candidates. ``/docs`` is the API's reference drawn
from ``/openapi.json`` by a page served from here (Swagger UI's CDN files would leave it blank offline).
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from .. import api, flags, report
from ..report.catalog import catalog_rows

MAX_BODY_BYTES = 1 << 20
MAX_SEARCH_PLANS = 2_000_000  # about a second of pricing on one core (benchmarks/results/plan.md)
MAX_DEVICE_COUNTS = 16
SEARCHES_AT_ONCE = 2          # plan searches priced at the same time (the rest wait their turn)
SEARCHES_WAITING = 16         # searches that may wait; past that, 503 with Retry-After
STATIC = Path(__file__).parent / "static"


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413 while it streams in: a declared length is refused before a
    byte is read, a chunked body as soon as its running count passes the limit (it is never held whole)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            response = JSONResponse({"detail": f"request body over {self.limit} bytes, or a bad Content-Length"},
                                    status_code=413)
            return await response(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(status_code=413, detail=f"request body over {self.limit} bytes")
            return message

        return await self.app(scope, counted, send)


def _json(result):
    return json.loads(report.to_json(report.as_json(result)))


def create_app() -> FastAPI:
    app = FastAPI(title="xpuplan", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Plan training and serving of large models on mixed accelerator fleets.")

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(api.BadInput)
    async def bad_input(_: Request, exc: api.BadInput):
        return JSONResponse({"detail": [{"loc": ["body", exc.field or "body"], "msg": str(exc), "type": "bad_input"}]},
                            status_code=422)

    @app.exception_handler(api.DoesNotFit)
    async def does_not_fit(_: Request, exc: api.DoesNotFit):
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]},
                            status_code=422)

    for command in flags.HTTP_COMMANDS:
        _endpoint(app, command)

    @app.get("/api/catalog/{kind}")
    def catalog_list(kind: Literal["chips", "models", "systems", "frameworks", "serving"]) -> list:
        return _json(catalog_rows(kind, api.catalog(kind)))

    @app.get("/api/schema/{kind}")
    def file_schema(kind: str, command: str | None = None) -> dict:
        """The JSON Schema of a chip, model or job file (``?command=train``), as ``xpuplan schema`` prints it."""
        return api.schema(kind, command)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        import plotly
        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="application/javascript")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: Literal["app.js", "plan.js", "tabs.js", "docs.js", "style.css"]) -> FileResponse:
        return FileResponse(STATIC / name)

    return app


def _endpoint(app: FastAPI, command: str) -> None:
    """``POST /api/<command>``: the body model from the options table, the answer ``api.run``'s."""
    body_model = flags.request_body(command)

    def answer(body) -> object:
        args = body.model_dump()
        if command in ("plan", "fleet"):  # the expensive ones wait their turn
            if command == "plan":
                _check_search_size(args)
            with _search_turn():
                result = api.run(command, args, files=False)
        else:
            result = api.run(command, args, files=False)
        if isinstance(result, api.TrainResult) and not result.fits:
            raise api.DoesNotFit(result.not_fit_reason())  # 409, as DESIGN.md documents
        return _json(result)

    answer.__annotations__ = {"body": body_model, "return": object}
    answer.__name__ = command
    app.post(f"/api/{command}", summary=f"xpuplan {command}", response_model=None)(answer)


_searching = threading.BoundedSemaphore(SEARCHES_AT_ONCE)
_queued = threading.BoundedSemaphore(SEARCHES_AT_ONCE + SEARCHES_WAITING)


@contextlib.contextmanager
def _search_turn():
    """A plan search waits for one of ``SEARCHES_AT_ONCE`` turns; a full queue is 503 at once, so expensive
    searches never pile up behind each other or starve the cheap endpoints of threads."""
    if not _queued.acquire(blocking=False):
        raise HTTPException(status_code=503, detail="too many plan searches waiting; retry in a few seconds",
                            headers={"Retry-After": "5"})
    try:
        with _searching:
            yield
    finally:
        _queued.release()


def _check_search_size(args: dict) -> None:
    """Refuse a plan search over the limits before pricing anything (the count of candidates is cheap)."""
    if args.get("pools"):
        return
    counts = api.parse_devices(args["devices"]) if args.get("devices") is not None else []
    if len(counts) > MAX_DEVICE_COUNTS:
        raise api.BadInput(f"devices: a range of {len(counts)} counts is over the limit of {MAX_DEVICE_COUNTS}", "devices")
    if counts and args.get("chip"):
        size = api.search_size(model=args["model"], chip=args["chip"], counts=counts, seq_len=args["seq_len"],
                               global_batch=args.get("global_batch"), global_batch_tokens=args.get("global_batch_tokens"),
                               framework=args.get("framework", "megatron"),
                               allow_cross_domain_tp=args.get("allow_cross_domain_tp", False), files=False)
        if size > MAX_SEARCH_PLANS:
            raise api.BadInput(f"devices: the search would price about {size:,} plans, over the limit of "
                               f"{MAX_SEARCH_PLANS:,}; narrow the range or use the CLI", "devices")


app = create_app()
