"""A bounded soak of ``lgmpose serve`` on this machine (127.0.0.1 only).

Starts the service, sends a fixed number of ``POST /v1/pose`` requests of mixed kinds (good
pictures, pictures with boxes, bodies that are not images, truncated pictures, wrong types, empty
bodies, malformed boxes, bodies over the size limit) from several keep-alive clients, while another
client hangs up in the middle of its uploads now and then. It reports throughput, latency
percentiles, the answers by kind (every kind has one expected status: anything else is an error)
and the server's resident memory at the start, middle and end. Then it sends a burst of good
requests and a SIGTERM while they are in flight: each must finish or fail cleanly, and the service
must exit with status 0. Count- and time-bounded; it stops by itself.

    python -m lgmpose.serve.soak --requests 10000 --clients 8 --json-out soak.json
    lgmpose serve --soak ...                                    # the same
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lgmpose.errors import LgmposeError
from lgmpose.serve.loadtest import (_free_port, _serve_command, _stop, _wait_healthy,
                                    run_threads, timed_request, tree_rss)

__all__ = ["RequestKind", "request_kinds", "run_soak", "format_report", "main"]

ASSETS = Path(__file__).resolve().parents[1] / "assets"
GOOD_PICTURES = ("basketball1.jpg", "messi5.jpg", "astronaut.jpg", "000000000785.jpg")
MB = 1024 * 1024


@dataclass(frozen=True)
class RequestKind:
    name: str
    share: float
    expected: int                 # the one status a correct service answers
    content_type: str
    query: str = ""


def request_kinds(max_mb: float) -> list[RequestKind]:
    """The mix of a soak: shares sum to 1."""
    return [
        RequestKind("good", 0.35, 200, "image/jpeg"),
        RequestKind("good_with_boxes", 0.15, 200, "image/jpeg", "boxes=[[40,20,200,400]]"),
        RequestKind("not_an_image", 0.10, 400, "image/jpeg"),
        RequestKind("truncated", 0.10, 400, "image/jpeg"),
        RequestKind("wrong_type", 0.05, 415, "text/plain"),
        RequestKind("empty", 0.05, 400, "image/jpeg"),
        RequestKind("bad_boxes", 0.05, 400, "image/jpeg", "boxes=[[1,2"),
        RequestKind(f"over_{max_mb:g}_mb", 0.15, 413, "image/jpeg"),
    ]


def _body(kind: RequestKind, rng: np.random.Generator, pictures: list[bytes],
            max_mb: float) -> bytes:
    picture = pictures[int(rng.integers(len(pictures)))]
    if kind.name.startswith("good") or kind.name == "wrong_type" or kind.name == "bad_boxes":
        return picture
    if kind.name == "not_an_image":
        return rng.bytes(int(rng.integers(1, 64 * 1024)))
    if kind.name == "truncated":
        return picture[: int(len(picture) * rng.uniform(0.05, 0.6))]
    if kind.name == "empty":
        return b""
    return rng.bytes(int(max_mb * MB) + int(rng.integers(1, MB)))


def _post(conn: http.client.HTTPConnection, body: bytes, kind: RequestKind) -> int:
    path = "/v1/pose" + (f"?{kind.query}" if kind.query else "")
    conn.request("POST", path, body=body, headers={"Content-Type": kind.content_type})
    response = conn.getresponse()
    data = response.read()
    if response.status == 200:
        json.loads(data)          # a complete, parseable answer counts as an answer
    return response.status


def _hang_up_mid_upload(host: str, port: int, declared: int = 200_000, sent: int = 50_000) -> None:
    """Declare a body of ``declared`` bytes, send ``sent`` of them, close the socket."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall((f"POST /v1/pose HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/jpeg\r\n"
                      f"Content-Length: {declared}\r\n\r\n").encode() + b"\xff" * sent)


def _health(host: str, port: int) -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/v1/health")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _percentiles(ms: np.ndarray) -> dict[str, float]:
    if not ms.size:
        return {}
    return {f"p{q}": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)} | {
        "max": round(float(ms.max()), 1)}


def _check(requests: int, clients: int, max_seconds: float, hang_ups: int, max_mb: float) -> None:
    if requests < 1 or clients < 1 or max_seconds <= 0 or hang_ups < 0 or max_mb <= 0:
        raise LgmposeError(f"soak: --requests ({requests}), --clients ({clients}), --max-seconds "
                           f"({max_seconds:g}) and --max-mb ({max_mb:g}) must be positive, "
                           f"--hang-ups ({hang_ups}) at least 0")


def run_soak(host: str, port: int, server_pid: int | None, requests: int = 10_000,
             clients: int = 8, max_seconds: float = 1800.0, hang_ups: int = 100,
             max_mb: float = 1.0, seed: int = 0, log=print) -> dict:
    """Soak a running service; the figures as a JSON-ready dict."""
    _check(requests, clients, max_seconds, hang_ups, max_mb)
    kinds = request_kinds(max_mb)
    rng = np.random.default_rng(seed)
    plan = rng.choice(len(kinds), size=requests, p=[k.share for k in kinds])
    pictures = [(ASSETS / name).read_bytes() for name in GOOD_PICTURES]
    outcome: list[int | str | None] = [None] * requests
    latency = np.full(requests, np.nan)
    counter = itertools.count()
    deadline = time.monotonic() + max_seconds
    rss: dict[str, float | None] = {}
    lock = threading.Lock()
    done = [0]

    for kind in kinds[:2]:        # warm-up: the model's first calls and the allocator's pools
        for picture in pictures:
            conn = http.client.HTTPConnection(host, port, timeout=120)
            _post(conn, picture, kind)
            conn.close()
    rss["start"] = tree_rss(server_pid)

    def client(index: int) -> None:
        local = np.random.default_rng([seed, index])
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            while time.monotonic() < deadline:
                i = next(counter)
                if i >= requests:
                    return
                kind = kinds[plan[i]]
                body = _body(kind, local, pictures, max_mb)
                outcome[i], latency[i], conn = timed_request(
                    conn, lambda c: _post(c, body, kind))
                with lock:
                    done[0] += 1
                    if done[0] == requests // 2:
                        rss["middle"] = tree_rss(server_pid)
                    if done[0] % max(1, requests // 10) == 0:
                        log(f"  {done[0]}/{requests} requests")
        finally:
            conn.close()

    hung_up = [0]

    def hanger() -> None:
        gap = max_seconds / (hang_ups + 1)
        while hung_up[0] < hang_ups and time.monotonic() < deadline:
            if done[0] >= requests:
                return
            target = (hung_up[0] + 1) * requests / (hang_ups + 1)
            if done[0] >= target:
                try:
                    _hang_up_mid_upload(host, port)
                    hung_up[0] += 1
                except OSError:
                    pass
            else:
                time.sleep(min(0.05, gap))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    wall = run_threads(threads + [threading.Thread(target=hanger, daemon=True)])
    time.sleep(0.5)               # let the hung-up requests' handlers notice and finish
    rss["end"] = tree_rss(server_pid)
    health = _health(host, port)

    sent = [i for i in range(requests) if outcome[i] is not None]
    by_kind = {}
    unexpected = 0
    for k, kind in enumerate(kinds):
        rows = [i for i in sent if plan[i] == k]
        answers: dict[str, int] = {}
        for i in rows:
            answers[str(outcome[i])] = answers.get(str(outcome[i]), 0) + 1
        wrong = sum(n for a, n in answers.items() if a != str(kind.expected))
        unexpected += wrong
        by_kind[kind.name] = {"sent": len(rows), "expected": kind.expected, "answers": answers,
                              "unexpected": wrong,
                              "latency_ms": _percentiles(1000 * latency[rows])}
    ms = 1000 * latency[sent]
    start_mb, mid_mb, end_mb = (rss.get(key) for key in ("start", "middle", "end"))
    report = {
        "requests_planned": requests, "requests_sent": len(sent), "clients": clients,
        "stopped_by_time": len(sent) < requests, "seconds": round(wall, 1),
        "throughput_rps": round(len(sent) / wall, 1), "latency_ms": _percentiles(ms),
        "unexpected_answers": unexpected, "by_kind": by_kind,
        "hang_ups_mid_upload": hung_up[0],
        "health_after": {k: health.get(k) for k in ("status", "requests", "errors", "in_flight")},
    }
    if start_mb is not None and end_mb is not None:
        mid_mb = mid_mb if mid_mb is not None else start_mb
        report["rss_mb"] = {"start": round(start_mb, 1), "middle": round(mid_mb, 1),
                            "end": round(end_mb, 1),
                            "second_half_growth": round(end_mb - mid_mb, 1)}
        # Allocator pools settle in the first half; a leak keeps growing in the second.
        report["memory_stable"] = bool(end_mb - mid_mb <= max(16.0, 0.05 * mid_mb))
    return report


def sigterm_in_flight(proc: subprocess.Popen, host: str, port: int, clients: int = 8) -> dict:
    """Start ``clients`` good requests, SIGTERM the service while they run, collect the outcomes
    and the exit status."""
    picture = (ASSETS / GOOD_PICTURES[0]).read_bytes()
    good = request_kinds(1.0)[0]
    outcomes: list[str] = [""] * clients
    started = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        started.wait()
        try:
            outcomes[i] = str(_post(conn, picture, good))
        except (OSError, http.client.HTTPException, ValueError) as error:
            outcomes[i] = type(error).__name__
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.05)              # the requests are sent and queued behind the model
    in_flight = _health(host, port).get("in_flight")
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=90)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    answers: dict[str, int] = {}
    for o in outcomes:
        answers[o] = answers.get(o, 0) + 1
    # a request either finishes (200) or is refused while shutting down (503), or its connection
    # is closed before it was read (the client sees a reset, never a half answer)
    clean = {"200", "503", "ConnectionResetError", "RemoteDisconnected", "BrokenPipeError",
             "ConnectionRefusedError"}
    return {"requests": clients, "in_flight_at_signal": in_flight, "answers": answers,
            "all_clean": all(o in clean for o in outcomes), "exit_status": code}


def format_report(report: dict) -> str:
    lat = report["latency_ms"]
    lines = [f"{report['requests_sent']} of {report['requests_planned']} requests from "
             f"{report['clients']} clients in {report['seconds']} s "
             f"({report['throughput_rps']} req/s); latency p50 {lat.get('p50')} ms, "
             f"p95 {lat.get('p95')} ms, p99 {lat.get('p99')} ms, max {lat.get('max')} ms",
             f"{'kind':<18} {'sent':>6} {'expected':>8}  answers{'':<22} {'p50 ms':>7} "
             f"{'p99 ms':>7}"]
    for name, row in report["by_kind"].items():
        answers = ", ".join(f"{a}: {n}" for a, n in sorted(row["answers"].items()))
        kl = row["latency_ms"]
        lines.append(f"{name:<18} {row['sent']:>6} {row['expected']:>8}  {answers:<29} "
                     f"{kl.get('p50', float('nan')):>7} {kl.get('p99', float('nan')):>7}")
    lines.append(f"unexpected answers: {report['unexpected_answers']}; hang-ups mid-upload: "
                 f"{report['hang_ups_mid_upload']}; health after: {report['health_after']}")
    mem = report.get("rss_mb")
    if mem:
        lines.append(f"resident memory (MB): start {mem['start']}, middle {mem['middle']}, end "
                     f"{mem['end']} (second half {mem['second_half_growth']:+}: "
                     + ("stable)" if report["memory_stable"] else "GROWING)"))
    term = report.get("sigterm")
    if term:
        lines.append(f"SIGTERM with {term['in_flight_at_signal']} requests in flight: answers "
                     f"{term['answers']}, all clean: {term['all_clean']}, exit status "
                     f"{term['exit_status']}")
    return "\n".join(lines)


def soak_from_args(args: argparse.Namespace, server_args: list[str]) -> int:
    """Start a service on a free loopback port, soak it, SIGTERM it; print and return 0 when
    every answer was the expected one, memory stayed flat and the service exited 0."""
    from lgmpose.serve.server import require_serve_extra

    _check(args.requests, args.clients, args.max_seconds, args.hang_ups, args.max_mb)
    require_serve_extra()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (lambda text: print(text, file=sys.stderr, flush=True))
    with tempfile.TemporaryDirectory(prefix="lgmpose-soak-") as tmp:
        log_path = Path(tmp) / "server.log"
        command = _serve_command(port, 1, ["--max-mb", f"{args.max_mb:g}", *server_args])
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        try:
            log(f"soak of {url}: {args.requests} requests, {args.clients} clients, at most "
                f"{args.max_seconds:g} s, {args.hang_ups} hang-ups mid-upload")
            _wait_healthy(url, proc, log_path)
            report = run_soak("127.0.0.1", port, proc.pid, args.requests, args.clients,
                              args.max_seconds, args.hang_ups, args.max_mb, args.seed, log)
            report["sigterm"] = sigterm_in_flight(proc, "127.0.0.1", port, args.clients)
        finally:
            _stop(proc)
        report["server_log_tail"] = log_path.read_text(errors="replace").splitlines()[-5:]
    print(format_report(report))
    if args.json_out:
        from lgmpose.utils.atomic import atomic_write_text

        atomic_write_text(args.json_out, json.dumps(report, indent=2) + "\n")
    term = report["sigterm"]
    ok = (report["unexpected_answers"] == 0 and report.get("memory_stable", True)
          and term["all_clean"] and term["exit_status"] == 0
          and report["health_after"]["in_flight"] == 0)
    return 0 if ok else 1


def add_soak_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=10_000, help="default: %(default)s")
    parser.add_argument("--clients", type=int, default=8, help="default: %(default)s")
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="stop sending after this long (default: %(default)s)")
    parser.add_argument("--hang-ups", type=int, default=100,
                        help="uploads cut off mid-body, spread over the soak (default: "
                             "%(default)s)")
    parser.add_argument("--max-mb", type=float, default=1.0,
                        help="the service's body limit during the soak; the oversized bodies "
                             "are just over it (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", help="also write the figures to this JSON file")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lgmpose.serve.soak",
                                     description=__doc__.split("\n\n")[0])
    add_soak_options(parser)
    args = parser.parse_args(argv)
    try:
        return soak_from_args(args, [])
    except LgmposeError as error:
        print(f"lgmpose soak: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
