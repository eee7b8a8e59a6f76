"""What makes ``lgmpose serve`` fit to be reached from other machines, as one ASGI middleware:

- an API key (bearer token, compared in constant time): every route that answers with data
  requires it; ``/v1/health`` and the constant page shells (``/``, ``/docs``, ``/static/*``,
  ``/favicon.ico``: files with no data in them, which a browser loads without headers) do not;
- a bound on the pose requests waiting or running in this process: the one over it gets a 503
  with ``Retry-After`` at once, instead of a wait that grows with the burst;
- the usual security headers on every answer (a Content-Security-Policy that allows no other
  origin, ``nosniff``, no framing, no referrer).
"""
from __future__ import annotations

import hmac
import json
import types

__all__ = ["Guard", "SECURITY_HEADERS", "PUBLIC_PATHS", "RETRY_AFTER_S"]

# Swagger UI (served by the service itself) needs inline styles and data: images; scripts only
# from this origin. 'wasm-unsafe-eval' lets the page compile ONNX Runtime Web's WebAssembly (its
# in-browser mode); it allows no JavaScript eval.
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
PUBLIC_PATHS = ("/", "/docs", "/favicon.ico", "/v1/health")
QUEUED_PATHS = ("/v1/pose",)
RETRY_AFTER_S = 1


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class Guard:
    """ASGI middleware: ``Guard(app, api_key=None, max_queue=32, on_refusal=callback,
    counter=obj)``. The pose requests waiting or running are counted in ``counter.in_flight``
    (pass the service, and ``/v1/health`` reports them)."""

    def __init__(self, app, api_key: str | None = None, max_queue: int | None = None,
                 on_refusal=None, counter=None) -> None:
        self.app = app
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.max_queue = max_queue
        self.on_refusal = on_refusal
        self.counter = counter if counter is not None else types.SimpleNamespace()
        self.counter.in_flight = 0

    @property
    def in_flight(self) -> int:
        return self.counter.in_flight

    def _authorised(self, scope) -> bool:
        path = scope.get("path", "")
        if self.api_key is None or path in PUBLIC_PATHS or path.startswith("/static/"):
            return True
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    return hmac.compare_digest(token.strip(), self.api_key)
        return False

    async def _refuse(self, send, status: int, message: str, headers: dict[str, str]) -> None:
        if self.on_refusal is not None:
            self.on_refusal(status)
        body = json.dumps({"detail": message}).encode("utf-8")
        all_headers = {"content-type": "application/json", "content-length": str(len(body)),
                       **headers, **SECURITY_HEADERS}
        await send({"type": "http.response.start", "status": status,
                    "headers": _encoded(all_headers)})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                extra = [(k, v) for k, v in _encoded(SECURITY_HEADERS) if k not in present]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        if not self._authorised(scope):
            await self._refuse(send, 401, "this service needs its API key: send the header "
                                          "'Authorization: Bearer <key>'",
                               {"www-authenticate": 'Bearer realm="lgmpose"'})
            return
        queued = scope.get("path") in QUEUED_PATHS and self.max_queue is not None
        if queued and self.in_flight >= self.max_queue:
            await self._refuse(send, 503, f"the service is busy ({self.in_flight} requests "
                                          f"waiting or running, its limit is {self.max_queue}); "
                                          f"try again in {RETRY_AFTER_S} s",
                               {"retry-after": str(RETRY_AFTER_S)})
            return
        if queued:
            self.counter.in_flight += 1
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if queued:
                self.counter.in_flight -= 1
