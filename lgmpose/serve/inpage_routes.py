"""The routes behind the page's in-browser mode: ``/models/model.json`` and the two ``.onnx``
files it runs, and the cross-origin isolation headers that let ONNX Runtime Web use threads."""
from __future__ import annotations

import mimetypes

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse

from lgmpose.errors import LgmposeError
from lgmpose.serve.inpage import ISOLATION_HEADERS, model_files, page_config

__all__ = ["add_inpage_routes"]

# Module scripts must be served as JavaScript; some systems' MIME tables lack these.
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")


def add_inpage_routes(app: FastAPI, service, isolate: bool = True) -> None:
    """Add the model routes to ``app``; ``isolate=False`` leaves out the isolation headers (the
    page then runs ONNX Runtime Web on one thread)."""
    try:
        files = model_files(service.estimator)
        config = page_config(service.estimator, server=True)
    except LgmposeError as error:
        # A checkpoint (torch) model: the page offers the server mode only, and says why.
        files, config = {}, {**service.model, "server": True, "in_browser": str(error)}

    @app.get("/models/model.json", include_in_schema=False)
    async def model_json():
        return JSONResponse(config, headers={"Cache-Control": "no-cache"})

    for name, path in files.items():
        def send(path=path):
            return FileResponse(path, media_type="application/octet-stream",
                                headers={"Cache-Control": "public, max-age=3600"})
        app.add_api_route(f"/models/{name}", send, methods=["GET"], include_in_schema=False)

    if isolate:
        @app.middleware("http")
        async def cross_origin_isolation(request, call_next):
            response = await call_next(request)
            for key, value in ISOLATION_HEADERS.items():
                response.headers.setdefault(key, value)
            return response
