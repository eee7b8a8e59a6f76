"""The ``lgmpose serve`` web application (FastAPI): the pose endpoint, health, model description,
the OpenAPI description (``/openapi.json``, browsable at ``/docs``) and the live page at ``/``.

Every refused request gets a JSON answer ``{"detail": "<one message>"}`` with a 4xx status; an
unexpected failure gets a JSON 500 without a traceback (the traceback goes to the server's log).

    from lgmpose.serve.app import create_app
    app = create_app(ServeConfig(detector="nanodet"))     # an ASGI app: uvicorn, TestClient, ...
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from lgmpose import __version__
from lgmpose.errors import LgmposeError
from lgmpose.serve.guard import Guard
from lgmpose.serve.images import ImageError, decode_image
from lgmpose.serve.service import MB, PoseService, ServeConfig

__all__ = ["create_app", "app_from_env", "serve_in_thread", "STATIC_DIR"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
RAW_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp", "application/octet-stream")


class RequestRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- response descriptions (OpenAPI only: the endpoints build their JSON directly) ---------------
class Error(BaseModel):
    detail: str = Field(description="what was wrong with the request, in one sentence")


class PersonResult(BaseModel):
    image_id: int | str
    category_id: int = 1
    keypoints: list[float] = Field(description="x1, y1, s1, x2, y2, s2, ... in image pixels "
                                               "(COCO keypoint-results layout)")
    score: float = Field(description="pose score (box score x mean confident keypoint score)")
    bbox: list[float] = Field(description="person box [x, y, w, h] in image pixels")
    box_score: float = Field(description="detector score of the box (1 for request boxes)")


class ImageSize(BaseModel):
    width: int
    height: int
    format: str


class PoseResponse(BaseModel):
    model: str
    image: ImageSize
    boxes_from: str = Field(description="'detector' or 'request'")
    people: list[PersonResult]
    timings_ms: dict[str, float] = Field(
        description="read (receiving the body), decode, queue (waiting for the model), detect, "
                    "pose, total (all of them, server side)")


class ModelResponse(BaseModel):
    name: str
    weights: str
    backend: str
    device: str
    dataset: str
    input_size: list[int] = Field(description="[height, width] of the pose network's input")
    num_keypoints: int
    keypoint_names: list[str]
    skeleton: list[list[int]]
    keypoint_colors: list[list[int]] = Field(description="RGB per keypoint")
    skeleton_colors: list[list[int]] = Field(description="RGB per skeleton link")
    detector: str
    detector_class: str
    flip_test: bool
    kpt_thr: float = Field(description="default keypoint threshold for drawing (lgmpose.defaults)")
    limits: dict[str, int]


class HealthResponse(BaseModel):
    status: str
    model: str
    pid: int
    uptime_s: float
    requests: int
    errors: int
    in_flight: int = 0
    rss_mb: float | None = None


_BINARY = {"schema": {"type": "string", "format": "binary"}}
POSE_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "The image's bytes (JPEG, PNG, WebP or BMP), raw with an image/* or "
                       "application/octet-stream Content-Type, or as the 'image' file field of a "
                       "multipart form (with an optional 'boxes' field).",
        "content": {
            **{t: _BINARY for t in RAW_TYPES},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["image"],
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "boxes": {"type": "string",
                              "description": "JSON person boxes [[x, y, w, h], ...]"},
                }}},
        },
    }
}
UNEXPECTED = {500: {"model": Error, "description": "an unexpected failure (the traceback is in "
                                                  "the server's log)"}}
NEEDS_KEY = {401: {"model": Error, "description": "no API key, or the wrong one (only when the "
                                                  "service was started with one)",
                   "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}}}
ERRORS = {400: {"model": Error, "description": "not an image, truncated, malformed boxes, "
                                               "empty body, malformed query"},
          413: {"model": Error, "description": "body or picture over the service's limits"},
          415: {"model": Error, "description": "unsupported Content-Type"},
          422: {"model": Error, "description": "a query parameter out of its bounds"},
          503: {"model": Error, "description": "busy: too many requests waiting; retry after "
                                               "the seconds in Retry-After",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
          **NEEDS_KEY, **UNEXPECTED}
SWAGGER_PACKAGE = "fastapi_offline"   # ships the Swagger UI files (the serve extra installs it)


def swagger_assets() -> Path | None:
    """The folder holding swagger-ui-bundle.js and swagger-ui.css, or None if not installed."""
    from importlib.util import find_spec

    spec = find_spec(SWAGGER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lgmpose serve - API</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>
"""


# -- request helpers ----------------------------------------------------------------------------
async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise RequestRefused(400, f"Content-Length '{length[:40]}' is not a number") from None
        if declared > limit:
            raise RequestRefused(413, f"the body is {declared / MB:.1f} MB, over this service's "
                                      f"limit of {limit / MB:g} MB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRefused(413, f"the body is over this service's limit of "
                                      f"{limit / MB:g} MB")
        chunks.append(chunk)
    return b"".join(chunks)


async def _from_multipart(request: Request, body: bytes) -> tuple[bytes, str | None]:
    """The 'image' file and the 'boxes' field of a multipart body already read into ``body``."""
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    copy = Request(request.scope, receive)
    try:
        form = await copy.form(max_files=4, max_fields=16)
    except Exception as error:  # MultiPartException / HTTPException from a malformed form
        message = getattr(error, "detail", None) or getattr(error, "message", None) or str(error)
        raise RequestRefused(400, f"malformed multipart body ({message})") from None
    try:
        image = form.get("image", form.get("file"))
        if image is None or isinstance(image, str):
            raise RequestRefused(400, "the multipart body has no 'image' file field")
        data = await image.read()
        if not data:
            raise RequestRefused(400, "the multipart 'image' file is empty: send the image's "
                                      "bytes")
        boxes = form.get("boxes")
        if boxes is not None and not isinstance(boxes, str):
            boxes = (await boxes.read()).decode("utf-8", "replace")
        return data, boxes
    finally:
        await form.close()


def _image_id(text: str) -> int | str:
    return int(text) if text.isdigit() and len(text) < 19 else text


# -- the application ----------------------------------------------------------------------------
def create_app(config: ServeConfig | None = None, service: PoseService | None = None,
               isolate: bool | None = True) -> FastAPI:
    """The ASGI application; loads the model now (``LgmposeError`` if it cannot).

    ``isolate``: the page's in-browser mode with cross-origin isolation headers (``True``),
    without them (``False``: ONNX Runtime Web on one thread), or no in-browser routes (``None``).
    """
    service = service or PoseService(config)
    config = service.config
    app = FastAPI(
        title="lgmpose serve",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Top-down human pose estimation over HTTP (LGM-Pose). `POST /v1/pose` an "
                    "image, get the people in the COCO keypoint-results format with per-stage "
                    "timings. The live page is at `/`.",
    )
    app.state.service = service

    def refuse(status: int, message: str) -> JSONResponse:
        service.errors += 1
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(RequestRefused)
    async def _refused(request: Request, error: RequestRefused):
        return refuse(error.status, error.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        detail = error.detail if isinstance(error.detail, str) else str(error.detail)
        return JSONResponse({"detail": detail}, status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError):
        first = (error.errors() or [{}])[0]
        where = " ".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        return refuse(422 if where else 400,
                      f"{where or 'request'}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception):
        # Starlette re-raises after this answer: the traceback goes to the server's log.
        service.errors += 1
        return JSONResponse({"detail": f"internal error ({type(error).__name__}); the server's "
                                       "log has the details"}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    assets = swagger_assets()

    @app.get("/docs", include_in_schema=False)
    async def docs():
        if assets is None:
            raise RequestRefused(404, "the API page needs the Swagger UI files: pip install "
                                      "'lgmpose[serve]' (fastapi-offline); /openapi.json is here")
        return HTMLResponse(DOCS_HTML, headers={"Cache-Control": "no-cache"})

    # Swagger UI from an installed package, never from a CDN: /docs works offline.
    if assets is not None:
        app.mount("/static/swagger", StaticFiles(directory=assets), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if isolate is not None:
        from lgmpose.serve.inpage_routes import add_inpage_routes

        add_inpage_routes(app, service, isolate=isolate)

    keyed = {"security": [{"bearer": []}]} if config.api_key else {}

    @app.get("/v1/health", response_model=HealthResponse, responses=UNEXPECTED,
             summary="Liveness and counters (never needs the API key)")
    async def health():
        return JSONResponse(service.health())

    @app.get("/v1/model", response_model=ModelResponse, responses={**NEEDS_KEY, **UNEXPECTED},
             openapi_extra=keyed or None,
             summary="The pose model: keypoints, skeleton, colours, input size")
    async def model():
        return JSONResponse(service.model)

    @app.post("/v1/pose", response_model=PoseResponse, responses=ERRORS,
              openapi_extra={**POSE_REQUEST_BODY, **keyed}, summary="Poses of the people in an image")
    async def pose(request: Request,
                   boxes: str | None = Query(None, description="JSON person boxes "
                                             "[[x, y, w, h], ...] in image pixels; the "
                                             "detector is skipped when given"),
                   image_id: str = Query("0", max_length=64,
                                         description="copied into each result's image_id")):
        """Send an image (raw bytes or multipart), get every person's keypoints."""
        t0 = time.perf_counter()
        service.requests += 1
        kind = request.headers.get("content-type", "application/octet-stream")
        kind = kind.split(";")[0].strip().lower() or "application/octet-stream"
        multipart = kind == "multipart/form-data"
        if not multipart and kind not in RAW_TYPES and not kind.startswith("image/"):
            hint = (" (curl --data-binary sends this type unless given -H 'Content-Type: "
                    "image/jpeg')" if kind == "application/x-www-form-urlencoded" else "")
            raise RequestRefused(415, f"Content-Type '{kind}' is not accepted: send the image's "
                                      "bytes as image/jpeg, image/png, image/webp, image/bmp or "
                                      "application/octet-stream, or a multipart/form-data form "
                                      f"with an 'image' file field{hint}")
        body = await _read_body(request, config.max_bytes)
        if not body:
            raise RequestRefused(400, "the request body is empty: send the image's bytes")
        data = body
        if multipart:
            data, form_boxes = await _from_multipart(request, body)
            if boxes is None:
                boxes = form_boxes
        t1 = time.perf_counter()
        try:
            image, header = await run_in_threadpool(decode_image, data, config.max_pixels)
        except ImageError as error:
            raise RequestRefused(error.status, str(error)) from None
        t2 = time.perf_counter()
        height, width = image.shape[:2]
        try:
            box_array = service.parse_boxes(boxes, width, height)
            people, stages = await asyncio.get_running_loop().run_in_executor(
                service.executor, service.estimate, image, box_array, _image_id(image_id))
        except LgmposeError as error:
            raise RequestRefused(400, str(error)) from None
        t3 = time.perf_counter()
        timings = {"read": t1 - t0, "decode": t2 - t1, **stages, "total": t3 - t0}
        timings = {k: round(1000 * v, 3) for k, v in timings.items()}
        answer = {"model": service.model["name"],
                  "image": {"width": width, "height": height, "format": header.format},
                  "boxes_from": "detector" if box_array is None else "request",
                  "people": people, "timings_ms": timings}
        server_timing = ", ".join(f"{k};dur={v}" for k, v in timings.items())
        return JSONResponse(answer, headers={"Server-Timing": server_timing})

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            if config.api_key:
                schema.setdefault("components", {})["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer",
                               "description": "the key given to lgmpose serve (--api-key or "
                                              "$LGMPOSE_API_KEY)"}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    def refused(status: int) -> None:
        service.errors += 1

    app.add_middleware(Guard, api_key=config.api_key, max_queue=config.max_queue,
                       on_refusal=refused, counter=service)
    return app


def app_from_env() -> FastAPI:
    """The factory each worker process of ``lgmpose serve --workers N`` calls."""
    return create_app(ServeConfig.from_env())


@contextlib.contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0,
                    log_level: str = "warning") -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread; yields its base URL and stops it on exit
    (for tests and notebooks)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False,
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="lgmpose-serve")
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
