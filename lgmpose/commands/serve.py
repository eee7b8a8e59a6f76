"""`lgmpose serve`: a pose-estimation HTTP service with a live web page (the `serve` extra)."""
from __future__ import annotations

import argparse

from lgmpose.utils.cli_options import add_serve_model_options, positive_int

HELP = "serve pose estimation over HTTP (POST /v1/pose) with a live web page at /"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s); beyond this machine, "
                             "set an API key and put a TLS proxy in front (docs/serve.md)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    add_serve_model_options(parser)
    parser.add_argument("--max-mb", type=float, default=None,
                        help="largest request body in MB, else 413 (default: 20; 1 in the soak)")
    parser.add_argument("--max-megapixels", type=float, default=50.0,
                        help="largest picture in megapixels, else 413 (default: %(default)s)")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help="require 'Authorization: Bearer KEY' on every route but /v1/health "
                             "(better: set $LGMPOSE_API_KEY, which the process list does not "
                             "show)")
    parser.add_argument("--max-queue", type=positive_int, default=32, metavar="N",
                        help="pose requests waiting or running per worker; more get 503 with "
                             "Retry-After (default: %(default)s)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"],
                        help="server log level (default: %(default)s)")
    parser.add_argument("--no-access-log", action="store_true", help="no line per request")
    parser.add_argument("--static-site", metavar="DIR",
                        help="write the live page, ONNX Runtime Web and the models (--weights, "
                             "the bundled detector) to DIR as a static site that runs in the "
                             "browser with no server behind it, and exit")
    load = parser.add_argument_group(
        "load test and soak", "--load-test starts the service on 127.0.0.1 (1 worker, then "
        "--workers N), sends a fixed number of requests and prints latency, throughput, errors "
        "and memory, then stops it; --soak sends many requests of mixed kinds (good, malformed, "
        "oversized, hung up mid-upload), then a SIGTERM with requests in flight (docs/"
        "reliability.md)")
    load.add_argument("--load-test", action="store_true", help="run the load test and exit")
    load.add_argument("--soak", action="store_true", help="run the soak and exit")
    load.add_argument("--requests", type=int, default=None,
                      help="measured requests (default: 200; 10,000 in the soak)")
    load.add_argument("--concurrency", type=int, default=None,
                      help="concurrent clients (default: 4; 8 in the soak)")
    load.add_argument("--max-seconds", type=float, default=1800.0,
                      help="the soak stops sending after this long (default: %(default)s)")
    load.add_argument("--hang-ups", type=int, default=100,
                      help="soak uploads cut off mid-body (default: %(default)s)")
    load.add_argument("--image", help="picture the load test sends (default: a bundled one)")
    load.add_argument("--boxes", help="JSON person boxes the load test sends with every request "
                                      "(times the pose network alone, without the detector)")
    load.add_argument("--json-out", help="write the load-test figures to this JSON file")


def _or(value, default):
    return default if value is None else value


def config_from_args(args: argparse.Namespace):
    import os

    from lgmpose.serve.service import API_KEY_ENV, MB, ServeConfig

    api_key = getattr(args, "api_key", None) or os.environ.get(API_KEY_ENV) or None
    return ServeConfig(weights=args.weights, backend=args.backend, device=args.device,
                       detector=args.detector, det_thr=args.det_thr, flip_test=args.flip_test,
                       threads=args.threads,
                       max_bytes=int(_or(getattr(args, "max_mb", None), 20.0) * MB),
                       max_pixels=int(getattr(args, "max_megapixels", 50.0) * 1e6),
                       max_queue=getattr(args, "max_queue", 32), api_key=api_key)


def run(args: argparse.Namespace) -> int:
    from lgmpose.errors import LgmposeError

    if args.workers < 1:
        raise LgmposeError(f"--workers: must be at least 1, got {args.workers}")
    if args.static_site:
        import sys

        from lgmpose.serve.inpage import write_static_site

        out = write_static_site(args.static_site, weights=args.weights)
        print(f"lgmpose serve: static site in {out}/ (serve it with any web server, e.g. "
              f"python -m http.server -d {out})", file=sys.stderr)
        return 0
    if args.soak:
        from lgmpose.serve.loadtest import model_server_args
        from lgmpose.serve.soak import soak_from_args

        args.requests = _or(args.requests, 10_000)
        args.clients = _or(args.concurrency, 8)
        args.max_mb = _or(args.max_mb, 1.0)
        args.seed = 0
        return soak_from_args(args, model_server_args(args))
    if args.load_test:
        from lgmpose.serve.loadtest import run_from_args

        args.requests = _or(args.requests, 200)
        args.concurrency = _or(args.concurrency, 4)
        return run_from_args(args)
    from lgmpose.serve.server import serve

    return serve(config_from_args(args), host=args.host, port=args.port, workers=args.workers,
                 log_level=args.log_level, access_log=not args.no_access_log)
