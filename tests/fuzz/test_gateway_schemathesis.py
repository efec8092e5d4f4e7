"""API fuzzing of the gateway with schemathesis, against its own OpenAPI schema.

The ASGI app is the production one (``create_http_app``: routes, middleware, error handlers,
OpenAPI) over fakes (:mod:`fuzz_gateway_support`), so the run is fast, in-process and
deterministic. Every generated request (positive and negative data) must get

* no 5xx (the fakes never fail, so a 5xx is the gateway's own),
* a documented status code, a documented content type, and a body that matches the documented
  schema of that status.

Besides the schema-driven run over every operation, there are runs over resources that exist
(a stored prediction, a batch job and its results: random ids only ever reach the 404 branch),
and over batch-job uploads, whose body the schema does not describe (so the test adds it).

Sizes: ``VALORA_FUZZ_MAX_EXAMPLES`` (examples per operation, default 50), ``VALORA_FUZZ_SEED``
(default 20240601). Runs are derandomized: same seed and code, same requests.
Needs ``schemathesis>=4`` (a dev dependency of the workspace).
"""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest
import schemathesis
from fuzz_gateway_support import build_fake_gateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks as st_checks
from starlette.testclient import TestClient

pytestmark = [pytest.mark.unit, pytest.mark.timeout(600)]

MAX_EXAMPLES = int(os.environ.get("VALORA_FUZZ_MAX_EXAMPLES", "50"))
SEED = int(os.environ.get("VALORA_FUZZ_SEED", "20240601"))

SEED_HOUSE = {
    "area": 120.5,
    "quartos": 3,
    "banheiros": 2,
    "idade": 5.0,
    "garagem": 1,
    "bairro": "Zona Sul",
}


FUZZ_KEY = "fuzz-key-" + "k" * 32
"""One key for every scope: the fuzzer sends it on every request; schemathesis's ``ignored_auth``
check also sends none or a wrong one and requires 401/403, so every route is fuzzed as it runs
outside ``local`` (keys configured, fail closed)."""
AUTH = {"X-API-Key": FUZZ_KEY}


def fuzz_config(max_examples: int = MAX_EXAMPLES) -> Any:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": AUTH,
            "generation": {
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
                "mode": "all",  # positive and negative data
            },
        }
    )


# Every check schemathesis has, as a schema-driven client would run it: no 5xx; documented
# status codes, content types, headers and bodies; schema-valid data accepted and schema-invalid
# data rejected (the schema says everything that is enforced, and nothing more is accepted).
st_checks.load_all_checks()
CONFORMANCE_CHECKS = list(st_checks.CHECKS.get_all())
assert len(CONFORMANCE_CHECKS) >= 10, "schemathesis's built-in checks are not loaded"
UPLOAD_CHECKS = [c for c in CONFORMANCE_CHECKS if c.__name__ != "positive_data_acceptance"]
"""A batch-job upload is a file: OpenAPI can say it is a CSV or JSONL file, not that it must
have a header and at least one row, so a schema-valid empty file is rightly refused (422)."""

CONTRACT_CHECKS = UPLOAD_CHECKS
"""``POST /predict`` and ``/predict/batch`` also hold a house to the data contract (a YAML a
deployment may change, with cross-field rules such as ``bathrooms <= bedrooms + 3`` that JSON
Schema cannot state), so a schema-valid house may rightly get 422 naming the broken rule
(tests/unit/test_gateway_valuation.py pins those answers)."""
CONTRACT_OPERATIONS = frozenset({"/predict", "/predict/batch"})

APP, WORLD = build_fake_gateway(
    **{f"gateway_api_keys_{scope}": FUZZ_KEY for scope in ("predict", "publish", "read", "admin")}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=fuzz_config(), headers=AUTH)


@schema.parametrize()
def test_gateway_conforms_to_its_openapi_schema(case: Any) -> None:
    upload = case.operation.path == "/batch-jobs" and case.method == "POST"
    contract = case.operation.path in CONTRACT_OPERATIONS
    chosen = UPLOAD_CHECKS if upload else CONTRACT_CHECKS if contract else CONFORMANCE_CHECKS
    case.call_and_validate(checks=chosen)


# ---- resources that exist ---------------------------------------------------------------------


def _validated(operation: Any, checks: list[Any] = CONFORMANCE_CHECKS, **kwargs: Any) -> Any:
    case = operation.Case(headers=dict(AUTH), **kwargs)
    return case.call_and_validate(checks=checks)


def test_existing_prediction_and_batch_job_conform() -> None:
    """The 200 branches of the id-taking operations (random ids never reach them)."""
    made = _validated(schema["/predict"]["POST"], body=SEED_HOUSE, media_type="application/json")
    assert made.status_code == 200
    prediction_id = made.json()["prediction_id"]
    got = _validated(
        schema["/predictions/{prediction_id}"]["GET"],
        path_parameters={"prediction_id": prediction_id},
    )
    assert got.status_code == 200
    assert got.json()["predicted_price"] == made.json()["predicted_price"]

    batch = _validated(
        schema["/predict/batch"]["POST"],
        body={"houses": [SEED_HOUSE, {**SEED_HOUSE, "bairro": "Centro"}]},
        media_type="application/json",
    )
    assert batch.json()["count"] == 2

    with TestClient(APP, headers=AUTH) as http:
        created = http.post(
            "/batch-jobs",
            files={"file": ("h.csv", b"area,quartos,banheiros,idade,garagem,bairro\n"
                                     b"100,2,1,5,1,Centro\n-1,2,1,5,1,Centro\n", "text/csv")},
        )  # fmt: skip
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    status = _validated(schema["/batch-jobs/{job_id}"]["GET"], path_parameters={"job_id": job_id})
    assert status.json()["total_rows"] == 2
    for fmt in ("csv", "jsonl"):
        results = _validated(
            schema["/batch-jobs/{job_id}/results"]["GET"],
            path_parameters={"job_id": job_id},
            query={"format": fmt},
        )
        assert results.status_code == 200


def test_readiness_failure_is_documented() -> None:
    """GET /health/ready answers 503 when a dependency is down: that must be in the schema
    (load balancers and schema-driven clients rely on it)."""
    app, _ = build_fake_gateway()

    async def down() -> bool:
        return False

    app.state.services.ready_checks = {"kafka": down}
    local = schemathesis.openapi.from_asgi("/openapi.json", app, config=fuzz_config())
    documented = [c for c in CONFORMANCE_CHECKS if c.__name__ != "not_a_server_error"]
    response = _validated(local["/health/ready"]["GET"], checks=documented)
    assert response.status_code == 503


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/listings"])
@pytest.mark.parametrize("body", [b"\xff\xff", b'{"bairro": "S\xe3o Paulo"}'], ids=["ff", "latin1"])
def test_body_that_is_not_utf8_is_a_documented_422(path: str, body: bytes) -> None:
    """Found by the fuzzer: a JSON body that is not UTF-8 got an undocumented 400
    ``http_error`` (FastAPI's 'There was an error parsing the body'), while every other
    malformed body gets the documented 422 ``validation_error``."""
    with TestClient(APP, headers=AUTH) as http:
        r = http.post(path, content=body, headers={"content-type": "application/json", **AUTH})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"


# ---- batch-job uploads ------------------------------------------------------------------------

UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        "text/plain": {"schema": {"type": "string"}},
        "application/json": {"schema": {}},
    },
}


def _schema_with_upload_body() -> Any:
    """The gateway's schema plus the request body POST /batch-jobs actually reads (the route
    takes the raw request, so FastAPI documents no body at all)."""
    with TestClient(APP, headers=AUTH) as http:
        raw = http.get("/openapi.json").json()
    raw = copy.deepcopy(raw)
    raw["paths"]["/batch-jobs"]["post"]["requestBody"] = UPLOAD_BODY
    loaded = schemathesis.openapi.from_dict(raw, config=fuzz_config())
    loaded.app = APP
    return loaded


upload_schema = _schema_with_upload_body().include(path="/batch-jobs", method="POST")


@upload_schema.parametrize()
def test_batch_job_uploads_conform(case: Any) -> None:
    case.call_and_validate(checks=UPLOAD_CHECKS)


_CSV_HEADER = "listing_id,area,quartos,banheiros,idade,garagem,bairro"
_cells = st.one_of(
    st.text(max_size=12),
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    rows=st.lists(st.lists(_cells, min_size=0, max_size=9), min_size=0, max_size=20),
    big_field=st.sampled_from([0, 0, 0, 140_000]),
)
def test_csv_uploads_never_500(rows: list[list[str]], big_field: int) -> None:
    """CSV-shaped uploads (a real header, arbitrary cells, sometimes one very long field):
    202 or a documented 4xx, never 500."""
    lines = [_CSV_HEADER, *(",".join(cells) for cells in rows)]
    if big_field:
        lines.append(f"L,{'9' * big_field},1,1,1,1,Centro")
    body = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    with TestClient(APP, raise_server_exceptions=False) as http:
        r = http.post("/batch-jobs", content=body, headers={"content-type": "text/csv", **AUTH})
    assert r.status_code in (202, 413, 422), (r.status_code, r.text[:300])
    assert "error" in r.json() or "job_id" in r.json()
