"""A bounded load test of ``lgmpose serve`` on this machine (127.0.0.1 only).

Starts the service (1 worker, then N), sends a fixed number of ``POST /v1/pose`` requests from a
few concurrent keep-alive clients, and reports latency percentiles, throughput, errors and the
resident memory of the server's processes (after warm-up, halfway, at the end), then stops it.

    python -m lgmpose.serve.loadtest --workers 2 --requests 200 --concurrency 4 --threads 1
    lgmpose serve --load-test --workers 2 ...            # the same
    python -m lgmpose.serve.loadtest --url http://127.0.0.1:8000   # a server already running

Only loopback addresses are accepted: this is a measuring tool, not a traffic generator.
Standard library only on the client side (no web framework needed to run it).
"""
from __future__ import annotations

import argparse
import http.client
import ipaddress
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

from lgmpose.errors import LgmposeError

__all__ = ["LoadResult", "run_load", "measure_workers", "format_table", "main"]

DEFAULT_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "basketball1.jpg"
MB = 1024 * 1024


def _check_loopback(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http":
        raise LgmposeError(f"--url '{url}': only http:// URLs of this machine are accepted")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LgmposeError(f"--url '{url}': the load test only runs against this machine "
                           "(127.0.0.1, ::1 or localhost)")
    return host, parts.port or 80


def _tree_pids(root: int) -> list[int]:
    """``root`` and its descendants (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_rss(root: int | None) -> float | None:
    """Resident memory in MB of a process and its descendants, ``None`` where unknown."""
    if root is None or not os.path.isdir("/proc"):
        return None
    from lgmpose.serve.service import rss_bytes

    total = [rss_bytes(pid) for pid in _tree_pids(root)]
    known = [t for t in total if t is not None]
    return sum(known) / MB if known else None


class LoadResult(dict):
    """The figures of one run (a dict, JSON-ready)."""


def _post(conn: http.client.HTTPConnection, body: bytes, content_type: str,
          path: str = "/v1/pose") -> int:
    conn.request("POST", path, body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    data = response.read()
    if response.status == 200:
        json.loads(data)          # a complete, parseable answer counts as a success
    return response.status


def run_threads(threads: list[threading.Thread]) -> float:
    """Start the threads, wait for all of them; the seconds it took."""
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def timed_request(conn: http.client.HTTPConnection, send) -> tuple[int | str, float,
                                                                 http.client.HTTPConnection]:
    """``send(conn)`` (a request returning its status), its seconds, and the connection to use
    next: on a connection error the outcome is the error's name and a fresh connection replaces
    the broken one."""
    t0 = time.perf_counter()
    try:
        outcome: int | str = send(conn)
    except (OSError, http.client.HTTPException, ValueError) as error:
        outcome = type(error).__name__
        conn.close()
        conn = http.client.HTTPConnection(conn.host, conn.port, timeout=conn.timeout)
    return outcome, time.perf_counter() - t0, conn


def run_load(url: str, body: bytes, content_type: str = "image/jpeg", requests: int = 200,
             concurrency: int = 4, warmup: int = 10, server_pid: int | None = None,
             boxes: str | None = None) -> LoadResult:
    """Send ``warmup`` then ``requests`` POSTs from ``concurrency`` clients; return the figures.
    ``boxes`` (JSON) are sent with every request: the detector is skipped."""
    host, port = _check_loopback(url)
    path = "/v1/pose" + ("?" + urllib.parse.urlencode({"boxes": boxes}) if boxes else "")
    if requests < 1 or concurrency < 1:
        raise LgmposeError("--requests and --concurrency must be at least 1")
    # Warm up with as many clients as the run uses: the server's threads and memory pools grow
    # to that concurrency here, not during the measurement.
    warm = itertools.count()

    def warm_client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            while next(warm) < warmup:
                _post(conn, body, content_type, path)
        finally:
            conn.close()

    warmers = [threading.Thread(target=warm_client, daemon=True) for _ in range(concurrency)]
    for t in warmers:
        t.start()
    for t in warmers:
        t.join()
    rss_start = tree_rss(server_pid)
    rss_half: list[float | None] = []
    counter = itertools.count()
    latencies = np.zeros(requests)
    statuses: list[int | str] = [0] * requests
    half = requests // 2
    lock = threading.Lock()
    done = [0]

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            while True:
                i = next(counter)
                if i >= requests:
                    return
                statuses[i], latencies[i], conn = timed_request(
                    conn, lambda c: _post(c, body, content_type, path))
                with lock:
                    done[0] += 1
                    if done[0] == half:
                        rss_half.append(tree_rss(server_pid))
        finally:
            conn.close()

    wall = run_threads([threading.Thread(target=client, daemon=True)
                        for _ in range(concurrency)])
    rss_end = tree_rss(server_pid)
    errors = [s for s in statuses if s != 200]
    ms = 1000 * latencies
    result = LoadResult(
        requests=requests, concurrency=concurrency, warmup=warmup,
        detector=boxes is None, errors=len(errors),
        error_kinds=sorted({str(e) for e in errors}), seconds=round(wall, 3),
        throughput_rps=round(requests / wall, 2),
        latency_ms={"p50": round(float(np.percentile(ms, 50)), 2),
                    "p90": round(float(np.percentile(ms, 90)), 2),
                    "p99": round(float(np.percentile(ms, 99)), 2),
                    "mean": round(float(ms.mean()), 2), "max": round(float(ms.max()), 2)})
    if rss_start is not None:
        mid = rss_half[0] if rss_half and rss_half[0] is not None else rss_start
        result["rss_mb"] = {"after_warmup": round(rss_start, 1), "halfway": round(mid, 1),
                            "end": round(rss_end or 0.0, 1)}
        # A leak grows with the requests served; allocator warm-up shows in the first half.
        growth = (rss_end or 0.0) - mid
        result["rss_mb"]["second_half_growth"] = round(growth, 1)
        result["memory_stable"] = bool(growth <= max(8.0, 0.05 * mid))
    return result


# -- starting and stopping a server ---------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_command(port: int, workers: int, server_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "lgmpose", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--log-level", "warning", "--no-access-log", *server_args]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    host, port = _check_loopback(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise LgmposeError("the service did not start: " + " / ".join(tail))
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", "/v1/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise LgmposeError(f"the service did not answer /v1/health within {timeout:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)      # uvicorn stops its workers gracefully
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure_workers(workers: int, body: bytes, content_type: str, server_args: list[str],
                    requests: int = 200, concurrency: int = 4, warmup: int | None = None,
                    boxes: str | None = None, log=print) -> LoadResult:
    """Start ``lgmpose serve --workers N`` on a free local port, load it, stop it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="lgmpose-load-") as tmp:
        log_path = Path(tmp) / "server.log"
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(_serve_command(port, workers, server_args),
                                    stdout=log_file, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        try:
            log(f"{workers} worker(s): starting on {url} ...")
            _wait_healthy(url, proc, log_path)
            result = run_load(url, body, content_type, requests, concurrency,
                              warmup if warmup is not None else 8 * workers, proc.pid, boxes)
        finally:
            _stop(proc)
    result["workers"] = workers
    return result


def format_table(results: list[dict]) -> str:
    head = (f"{'workers':>7} {'requests':>8} {'clients':>7} {'errors':>6} {'p50 ms':>8} "
            f"{'p90 ms':>8} {'p99 ms':>8} {'req/s':>7} {'RSS MB (warm -> half -> end)':>30}")
    lines = [head]
    for r in results:
        lat = r["latency_ms"]
        mem = r.get("rss_mb")
        mem_text = (f"{mem['after_warmup']:.0f} -> {mem['halfway']:.0f} -> {mem['end']:.0f}"
                    + ("" if r.get("memory_stable", True) else " GROWING")) if mem else "n/a"
        lines.append(f"{r.get('workers', '-'):>7} {r['requests']:>8} {r['concurrency']:>7} "
                     f"{r['errors']:>6} {lat['p50']:>8.1f} {lat['p90']:>8.1f} {lat['p99']:>8.1f} "
                     f"{r['throughput_rps']:>7.2f} {mem_text:>30}")
    return "\n".join(lines)


def _content_type(path: Path) -> str:
    return {".png": "image/png", ".webp": "image/webp", ".bmp": "image/bmp"}.get(
        path.suffix.lower(), "image/jpeg")


def model_server_args(args: argparse.Namespace) -> list[str]:
    """The model options of ``args`` as ``lgmpose serve`` arguments."""
    out = []
    for flag, value in (("--weights", args.weights), ("--backend", args.backend),
                        ("--device", args.device), ("--detector", args.detector),
                        ("--det-thr", args.det_thr), ("--threads", args.threads)):
        if value is not None:
            out += [flag, str(value)]
    if args.flip_test:
        out.append("--flip-test")
    return out


def run_from_args(args: argparse.Namespace) -> int:
    """Shared by ``python -m lgmpose.serve.loadtest`` and ``lgmpose serve --load-test``."""
    from lgmpose.serve.server import require_serve_extra

    image = Path(args.image) if args.image else DEFAULT_IMAGE
    if not image.is_file():
        raise LgmposeError(f"--image '{image}': file not found")
    body = image.read_bytes()
    kind = _content_type(image)
    if args.requests < 1 or args.concurrency < 1:
        raise LgmposeError("--requests and --concurrency must be at least 1")
    args.boxes = getattr(args, "boxes", None)
    if args.boxes is not None:
        try:
            json.loads(args.boxes)
        except ValueError:
            raise LgmposeError(f"--boxes '{args.boxes}': not valid JSON") from None
    info = (f"{args.requests} requests, {args.concurrency} concurrent clients, image "
            f"{image.name} ({len(body) / 1024:.0f} KB), "
            + (f"boxes {args.boxes} (no detector)" if args.boxes else "detector on every request"))
    results = []
    if getattr(args, "url", None):
        _check_loopback(args.url)
        print(f"load test of {args.url}: {info}", file=sys.stderr)
        results.append(run_load(args.url, body, kind, args.requests, args.concurrency,
                                boxes=args.boxes))
    else:
        require_serve_extra()
        if args.workers < 1:
            raise LgmposeError(f"--workers: must be at least 1, got {args.workers}")
        print(f"load test on 127.0.0.1: {info}", file=sys.stderr)
        for workers in sorted({1, args.workers}):
            results.append(measure_workers(
                workers, body, kind, model_server_args(args), args.requests, args.concurrency,
                boxes=args.boxes, log=lambda text: print(text, file=sys.stderr, flush=True)))
    print(format_table(results))
    if args.json_out:
        from lgmpose.utils.atomic import atomic_write_text

        atomic_write_text(args.json_out, json.dumps(
            {"image": image.name, "boxes": args.boxes, "server_args": model_server_args(args),
             "results": results},
            indent=2) + "\n")
    bad = [r for r in results if r["errors"]]
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    from lgmpose.utils.cli_options import add_serve_model_options

    parser = argparse.ArgumentParser(prog="python -m lgmpose.serve.loadtest",
                                     description=__doc__.split("\n\n")[0])
    add_serve_model_options(parser)
    parser.add_argument("--url", help="load a server already running on this machine instead")
    parser.add_argument("--requests", type=int, default=200, help="default: %(default)s")
    parser.add_argument("--concurrency", type=int, default=4, help="default: %(default)s")
    parser.add_argument("--image", help="picture to send (default: a bundled one)")
    parser.add_argument("--boxes", help="JSON person boxes sent with every request (pose only, "
                                        "no detector)")
    parser.add_argument("--json-out", help="also write the figures to this JSON file")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_from_args(args)
    except LgmposeError as error:
        print(f"lgmpose loadtest: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
