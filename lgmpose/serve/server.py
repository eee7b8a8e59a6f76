"""Starting the service with uvicorn: one process, or N worker processes each holding a model."""
from __future__ import annotations

import ipaddress
import os
import socket
import sys

from lgmpose.errors import LgmposeError
from lgmpose.serve.service import CONFIG_ENV, PoseService, ServeConfig

__all__ = ["require_serve_extra", "check_port", "serve"]


def require_serve_extra() -> None:
    """An ``LgmposeError`` naming the extra when the web framework is not installed."""
    missing = [name for name, modules in (("fastapi", ["fastapi"]), ("uvicorn", ["uvicorn"]),
                                          ("python-multipart", ["python_multipart", "multipart"]))
               if not any(_importable(m) for m in modules)]
    if missing:
        raise LgmposeError(f"lgmpose serve needs {', '.join(missing)}: "
                           "pip install 'lgmpose[serve]'")


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def check_port(host: str, port: int) -> None:
    """Refuse a port that is out of range or already taken, before loading any model."""
    if not 0 <= port <= 65535:
        raise LgmposeError(f"--port {port}: must be between 0 and 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise LgmposeError(f"--host '{host}': cannot resolve it ({error.strerror})") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            raise LgmposeError(f"--host {host} --port {port}: cannot listen there "
                               f"({error.strerror or error})") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(config_json: str) -> dict:
    """Load the model as a worker would; the description, or ``{"error": message}``."""
    try:
        return PoseService(ServeConfig.from_json(config_json)).model
    except LgmposeError as error:
        return {"error": str(error)}


def _describe_in_child(config: ServeConfig) -> dict:
    """Check the settings in a short-lived process, so that the supervisor of N workers does
    not keep a model of its own in memory."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        model = pool.submit(_describe, config.to_json()).result()
    if "error" in model:
        raise LgmposeError(model["error"])
    return model


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          log_level: str = "info", access_log: bool = True) -> int:
    """Run until interrupted. The model is loaded (and its errors reported) before listening."""
    require_serve_extra()
    import uvicorn

    check_port(host, port)
    # A bad --weights/--detector fails here, as one line, before anything listens.
    service = PoseService(config) if workers == 1 else None
    model = service.model if service else _describe_in_child(config)
    shown = f"[{host}]" if ":" in host else host
    print(f"lgmpose serve: {model['name']} ({model['weights']}, detector "
          f"{model['detector_class']}), {workers} worker(s) on http://{shown}:{port}/ "
          f"- page /, API /v1/pose, OpenAPI /docs", file=sys.stderr, flush=True)
    if not _is_loopback(host) and not config.api_key:
        print("lgmpose serve: warning: listening beyond this machine with no API key: anyone "
              "who reaches the port can use it (set $LGMPOSE_API_KEY); browsers give camera "
              "access only to pages on localhost or HTTPS (put a TLS proxy in front)",
              file=sys.stderr, flush=True)
    common = dict(host=host, port=port, log_level=log_level, access_log=access_log,
                  timeout_graceful_shutdown=5)
    try:
        if workers == 1:
            from lgmpose.serve.app import create_app

            uvicorn.run(create_app(service=service), **common)
        else:
            os.environ[CONFIG_ENV] = config.to_json()
            uvicorn.run("lgmpose.serve.app:app_from_env", factory=True, workers=workers,
                        **common)
    except KeyboardInterrupt:
        # uvicorn has already shut down gracefully (requests in flight finished) and re-raised
        # the signal it caught: stopping a service on request is a success.
        pass
    print("lgmpose serve: stopped", file=sys.stderr, flush=True)
    return 0
