"""`lgmpose serve` fit to be exposed: the API key, the bound on waiting requests, the security
headers, /docs without internet, and an OpenAPI document that a schema-driven fuzzer
(Schemathesis, all checks) finds true."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import cv2
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart", reason="python-multipart not installed")

from fastapi.testclient import TestClient  # noqa: E402

from inference_fakes import bright_spot_pose_model, spot_image  # noqa: E402
from lgmpose.errors import LgmposeError  # noqa: E402
from lgmpose.serve.app import create_app, swagger_assets  # noqa: E402
from lgmpose.serve.service import PoseService, ServeConfig  # noqa: E402

KEY = "s3cret-key-for-tests"


@pytest.fixture(scope="module")
def spot_model(tmp_path_factory):
    return str(bright_spot_pose_model(tmp_path_factory.mktemp("m") / "spot.onnx"))


def _service(spot_model, **kwargs):
    return PoseService(ServeConfig(weights=spot_model, detector="whole_image", threads=1,
                                   max_bytes=1024 * 1024, max_pixels=2_000_000, **kwargs))


@pytest.fixture(scope="module")
def jpeg():
    ok, data = cv2.imencode(".jpg", spot_image())
    return data.tobytes()


@pytest.fixture(scope="module")
def open_client(spot_model):
    with TestClient(create_app(service=_service(spot_model))) as client:
        yield client


@pytest.fixture(scope="module")
def keyed_client(spot_model):
    with TestClient(create_app(service=_service(spot_model, api_key=KEY))) as client:
        yield client


def test_api_key_is_required_everywhere_but_health_and_the_page_shells(keyed_client, jpeg):
    c = keyed_client
    assert c.get("/v1/health").status_code == 200
    for path in ("/", "/docs", "/static/app.js", "/favicon.ico"):
        assert c.get(path).status_code == 200, path
    for method, path in (("get", "/v1/model"), ("get", "/openapi.json"), ("post", "/v1/pose")):
        answer = getattr(c, method)(path)
        assert answer.status_code == 401, path
        assert answer.json()["detail"].startswith("this service needs its API key")
        assert answer.headers["www-authenticate"].startswith("Bearer")
    wrong = c.post("/v1/pose", content=jpeg, headers={"Content-Type": "image/jpeg",
                                                     "Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = c.post("/v1/pose", content=jpeg, headers={"Content-Type": "image/jpeg",
                                                     "Authorization": f"Bearer {KEY}"})
    assert right.status_code == 200 and right.json()["people"]
    schema = c.get("/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_api_key_from_the_environment_and_checked(monkeypatch):
    import argparse

    from lgmpose.commands.serve import config_from_args

    monkeypatch.setenv("LGMPOSE_API_KEY", KEY)
    args = argparse.Namespace(weights=None, backend=None, device="cpu", detector="auto",
                              det_thr=None, flip_test=False, threads=None, api_key=None)
    config = config_from_args(args)
    assert config.api_key == KEY and KEY not in repr(config)
    with pytest.raises(LgmposeError, match="at least 8"):
        ServeConfig(api_key="short")


def test_security_headers_on_every_answer(open_client, jpeg):
    c = open_client
    answers = [c.get("/"), c.get("/docs"), c.get("/v1/health"), c.get("/nope"),
               c.post("/v1/pose", content=b"junk", headers={"Content-Type": "image/jpeg"}),
               c.post("/v1/pose", content=jpeg, headers={"Content-Type": "image/jpeg"})]
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "http" not in csp  # no other origin
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"


def test_docs_work_offline_and_favicon_exists(open_client):
    assert swagger_assets() is not None, "the serve extra ships Swagger UI (fastapi-offline)"
    page = open_client.get("/docs").text
    assert "cdn" not in page.lower() and "https://" not in page
    for src in ("/static/swagger/swagger-ui-bundle.js", "/static/swagger/swagger-ui.css",
                "/static/docs.js"):
        assert src in page
        answer = open_client.get(src)
        assert answer.status_code == 200 and len(answer.content) > 100, src
    assert open_client.get("/favicon.ico").status_code == 200


def test_full_queue_answers_503_with_retry_after(spot_model, jpeg):
    service = _service(spot_model, max_queue=1)
    gate = threading.Event()
    original = service.estimate

    def slow(*args, **kwargs):
        gate.wait(10)
        return original(*args, **kwargs)

    service.estimate = slow
    app = create_app(service=service)
    import httpx

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.ensure_future(client.post(
                "/v1/pose", content=jpeg, headers={"Content-Type": "image/jpeg"}))
            await asyncio.sleep(0.3)
            second = await client.post("/v1/pose", content=jpeg,
                                       headers={"Content-Type": "image/jpeg"})
            gate.set()
            return await first, second

    first, second = asyncio.run(burst())
    assert first.status_code == 200
    assert second.status_code == 503
    assert second.headers["retry-after"] == "1"
    assert "busy" in second.json()["detail"]


def test_every_answer_is_declared(open_client):
    schema = open_client.get("/openapi.json").json()
    pose = schema["paths"]["/v1/pose"]["post"]["responses"]
    assert set(pose) >= {"200", "400", "401", "413", "415", "422", "500", "503"}
    error = {"$ref": "#/components/schemas/Error"}
    for status in ("400", "413", "415", "422", "503"):
        assert pose[status]["content"]["application/json"]["schema"] == error
    assert "HTTPValidationError" not in schema.get("components", {}).get("schemas", {})


schemathesis = pytest.importorskip("schemathesis")


def _subnormals_flushed() -> bool:
    """Whether a library built with fast-math, loaded earlier in this process, has set the CPU to
    flush subnormal floats to zero: Hypothesis then refuses to generate floats at all."""
    return sys.float_info.min / 2 == 0.0


def test_schemathesis_finds_nothing(spot_model):
    """Every operation of /openapi.json, every Schemathesis check, bounded examples."""
    if _subnormals_flushed():
        assert not os.environ.get("LGMPOSE_FRESH_FLOATS"), \
            "subnormal floats are flushed even in a fresh interpreter"
        # run it in a fresh interpreter, where nothing has changed the floating-point mode
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               f"{__file__}::test_schemathesis_finds_nothing"],
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "LGMPOSE_FRESH_FLOATS": "1"})
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        return
    from hypothesis import HealthCheck, settings

    from schemathesis.config import SchemathesisConfig

    app = create_app(service=_service(spot_model))
    # JSON Schema cannot say "the bytes of a decodable picture" nor "boxes inside that picture":
    # a schema-valid body may still be refused for its content, with the declared 400 (or 413
    # for a picture over the pixel limit). Every other check runs with its defaults.
    config = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "413", "429", "5xx"]}}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    failures, calls = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy()

        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @__import__("hypothesis").given(case=strategy)
        def check(case):
            calls.append(operation.label)
            try:
                case.call_and_validate()
            except Exception as error:  # collect, report all at the end
                failures.append(f"{operation.label}: {type(error).__name__}: "
                                f"{str(error)[:300]}")
                raise

        try:
            check()
        except Exception:
            pass
    assert not failures, "\n".join(failures[:5])
    assert {"GET /v1/health", "GET /v1/model", "POST /v1/pose"} <= set(calls)
    assert len(calls) >= 20
