"""FastAPI app: the estimators as JSON endpoints, and a page that plots their answers.

Every endpoint takes the CLI's flags as JSON fields (``seq_len`` for ``--seq-len``) and answers exactly
the CLI's ``--json`` object. Bad input is HTTP 422 naming the field; a job that cannot fit is 409 with
the reason. Requests cannot name files: chips, models and frameworks are catalog ids only. Bodies over
1 MiB are refused, and so is a plan search larger than ``MAX_SEARCH_PLANS`` candidates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import api, catalog
from ..catalog_view import catalog_rows
from ..errors import BadInput, DoesNotFit
from ..specs import PLAN_MEMORY_MARGIN

MAX_BODY_BYTES = 1 << 20
MAX_SEARCH_PLANS = 2_000_000  # about a second of pricing on one core (benchmarks/results/plan.md)
MAX_DEVICE_COUNTS = 16
STATIC = Path(__file__).parent / "static"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    framework: str = "megatron"

    @field_validator("model", "framework", "chip", "chips", check_fields=False)
    @classmethod
    def _catalog_ids_only(cls, value):
        for name in value if isinstance(value, list) else [value]:
            if name is not None and ("/" in name or "\\" in name or name.endswith((".yaml", ".yml")) or name.startswith(".")):
                raise ValueError("give a catalog id, not a file path (see GET /api/catalog/...)")
        return value


class TrainBody(_Body):
    chip: str
    devices: int = Field(gt=0, le=10_000_000)
    seq_len: int = Field(4096, gt=0)
    global_batch: Optional[int] = Field(None, gt=0)
    global_batch_tokens: Optional[str] = None
    tokens: Optional[str] = None
    micro_batch: Optional[int] = Field(None, gt=0)
    tp: Optional[int] = Field(None, gt=0)
    pp: Optional[int] = Field(None, gt=0)
    dp: Optional[int] = Field(None, gt=0)
    cp: Optional[int] = Field(None, gt=0)
    ep: Optional[int] = Field(None, gt=0)
    etp: Optional[int] = Field(None, gt=0)
    vpp: Optional[int] = Field(None, gt=0)
    zero: Optional[int] = Field(None, ge=0, le=3)
    recompute: Optional[Literal["none", "selective", "full"]] = None
    precision: Optional[Literal["bf16", "fp16", "fp8"]] = None
    ep_overlap: float = Field(0.0, ge=0, le=1, description="share of the EP all-to-all hidden behind compute")
    ep_dedup: bool = Field(False, description="expert dispatch sends a token once per remote node (DeepEP, HybridEP)")
    failure_rate: Optional[float] = Field(None, gt=0, lt=1)
    restart_tier: Literal["manual", "automated", "advanced", "in-memory"] = "automated"
    async_checkpoint: bool = False
    trials: int = Field(500, ge=1, le=20_000)
    seed: int = Field(0, ge=0)
    usd_per_device_hour: Optional[float] = Field(None, gt=0, le=1000)


class PlanBody(_Body):
    chip: str
    devices: str = Field(description="a count (1024) or a range (1024..16384)")
    seq_len: int = Field(4096, gt=0)
    global_batch: Optional[int] = Field(None, gt=0)
    global_batch_tokens: Optional[str] = None
    tokens: Optional[str] = None
    top: int = Field(5, ge=1, le=100)
    objective: Literal["time", "cost", "devices"] = "time"
    deadline: Optional[str] = None
    precision: Literal["bf16", "fp16", "fp8"] = "bf16"
    allow_cross_domain_tp: bool = False
    memory_margin: float = Field(PLAN_MEMORY_MARGIN, ge=0, lt=1)
    ep_overlap: float = Field(0.0, ge=0, le=1, description="share of the EP all-to-all hidden behind compute")
    ep_dedup: bool = Field(False, description="expert dispatch sends a token once per remote node (DeepEP, HybridEP)")
    usd_per_device_hour: Optional[float] = Field(None, gt=0, le=1000)
    trials: int = Field(200, ge=1, le=5_000)

    @field_validator("devices", mode="before")
    @classmethod
    def _devices_text(cls, value):
        return str(value)


class InferenceBody(_Body):
    chip: str
    devices: int = Field(gt=0, le=1_000_000)
    input_len: int = Field(1024, gt=0)
    output_len: int = Field(1024, gt=0)
    tp: Optional[int] = Field(None, gt=0)
    pp: Optional[int] = Field(None, gt=0)
    dp: Optional[int] = Field(None, gt=0)
    ep: Optional[int] = Field(None, gt=0)
    precision: Literal["bf16", "fp16", "fp8", "int8", "int4", "fp4"] = "bf16"
    kv_precision: Optional[Literal["bf16", "fp16", "fp8", "int8"]] = None
    concurrency: Optional[int] = Field(None, gt=0)
    request_rate: Optional[float] = Field(None, gt=0)
    seed: int = Field(0, ge=0)
    usd_per_device_hour: Optional[float] = Field(None, gt=0, le=1000)
    engine: Literal["trt-llm", "vllm", "roofline"] = "trt-llm"


def _json(obj) -> dict:
    from ..report import to_json
    return json.loads(to_json(obj))


def create_app() -> FastAPI:
    app = FastAPI(title="xpuplan", version="0.1.0",
                  description="Plan training and serving of large models on mixed accelerator fleets.")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(BadInput)
    async def bad_input(_: Request, exc: BadInput):
        return JSONResponse({"detail": [{"loc": ["body", exc.field or "body"], "msg": str(exc), "type": "bad_input"}]},
                            status_code=422)

    @app.exception_handler(DoesNotFit)
    async def does_not_fit(_: Request, exc: DoesNotFit):
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]},
                            status_code=422)

    @app.post("/api/train")
    def train(body: TrainBody) -> dict:
        args = body.model_dump()
        flags = {k: args.pop(k) for k in ("failure_rate", "restart_tier", "async_checkpoint", "trials", "seed",
                                          "usd_per_device_hour")}
        return _json(api.train(run=api.run_options(**flags), **args).to_dict())

    @app.post("/api/plan")
    def plan(body: PlanBody) -> list:
        args = body.model_dump()
        counts = api.parse_devices(args.pop("devices"))
        if len(counts) > MAX_DEVICE_COUNTS:
            raise BadInput(f"devices: a range of {len(counts)} counts is over the limit of {MAX_DEVICE_COUNTS}", "devices")
        size = _search_size(args, counts)
        if size > MAX_SEARCH_PLANS:
            raise BadInput(f"devices: the search would price about {size:,} plans, over the limit of "
                           f"{MAX_SEARCH_PLANS:,}; narrow the range or use the CLI", "devices")
        run = api.run_options(trials=args.pop("trials"), usd_per_device_hour=args.get("usd_per_device_hour"))
        objective, deadline, top = args.pop("objective"), args.pop("deadline"), args.pop("top")
        if len(counts) == 1 and objective != "devices":
            return _json(api.plan(devices=counts[0], top=top, objective=objective, run=run, **args).to_list())
        return _json([r.to_dict() for r in api.plan_range(counts=counts, objective=objective, deadline=deadline,
                                                          top=top, run=run, **args)])

    @app.post("/api/inference")
    def inference(body: InferenceBody) -> dict:
        args = body.model_dump()
        args.pop("framework")
        return _json(api.inference(**args).to_dict())

    @app.get("/api/catalog/{kind}")
    def catalog_list(kind: Literal["chips", "models", "systems", "frameworks"]) -> list:
        return _json(catalog_rows(kind))

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        import plotly
        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="application/javascript")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: Literal["app.js", "style.css"]) -> FileResponse:
        return FileResponse(STATIC / name)

    return app


def _search_size(args: dict, counts: list[int]) -> int:
    """Plans a search would enumerate (cheap: no pricing)."""
    from ..search import SearchSpace, candidate_grid
    model, chip = catalog.load_model(args["model"]), catalog.load_chip(args["chip"])
    job = api.make_job(seq_len=args["seq_len"], global_batch=args.get("global_batch"),
                       global_batch_tokens=args.get("global_batch_tokens"))
    space = SearchSpace(allow_cross_domain_tp=args.get("allow_cross_domain_tp", False))
    return sum(candidate_grid(model, job, n, chip, space)[1] for n in counts)


app = create_app()
