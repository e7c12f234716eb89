"""Schemathesis against the real app's /openapi.json: no 5xx, and every response conforms.

Each operation in the OpenAPI document is one test. The app runs in-process (ASGI) on the test
session's PostgreSQL database, emptied once for this module, and Redis (the broker the routes
publish to; no worker consumes), with a tenant whose write key authenticates every request and a
world of real resources (facility, tag, job, webhook endpoint and message, fuel mapping, report,
document): about half of the cases with path parameters use these real ids, the others random
ones. Checks, per response:

- ``not_a_server_error``: never a 5xx;
- ``status_code_conformance``: the status is documented for the operation;
- ``content_type_conformance`` / ``response_schema_conformance`` /
  ``response_headers_conformance``: the body and headers match what is documented for it;
- ``negative_data_rejection``: a request that violates the schema is refused (4xx).

Not checked: ``positive_data_acceptance`` (a schema-valid request is accepted). The API validates
what JSON Schema cannot say (a real calendar date, an IANA time zone, a webhook URL's host rules,
CSV contents, a quarter with an LCFS benchmark) and refuses it with a documented 400 naming the
field, which that check would count as failures. Unknown query parameters are generated too
(``allow-extra-parameters``): the API refuses them with 400 ``unknown_parameter``.

Bounds: numbers are tried at and past their documented minimum and maximum (the coverage phase),
and every date parameter documents far examples (``9999-12-31``, ``0001-01-01``, offsets that
leave the calendar), which the examples phase sends.

Nothing is excluded: every operation runs in-process. Generation is derandomized and seeded, so
a run is repeatable; examples per operation are capped to keep the test near a minute.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from tests.asgi import AppClient
from tests.factories import Tenant, examples, tenant_world
from tests.services import clear_caches, empty_database
from worker.storage.db import get_engine

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
APP = create_app()  # settings are read per request, so one app serves every test's database
# One fixed write key for every test's tenant: schemathesis applies it when it builds a case
# (some before any fixture runs), and leaves it off the cases that test missing credentials.
KEY = "tw_5c4e3a7f0001_schemathesis-fuzzing-key-not-a-secret"
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    APP,
    config=schemathesis.Config.from_dict(
        {
            "seed": 20251001,
            "generation": {"allow-extra-parameters": True},
            "auth": {"openapi": {"HTTPBearer": {"bearer": KEY}}},
        }
    ),
)


def _tenant_with_fixed_key(db_url: str) -> Tenant:
    from worker.storage.db import session_scope
    from worker.storage.models import ApiKey
    from worker.storage.tenants import create_tenant

    with session_scope(db_url) as s:
        tenant = create_tenant(s, name="Alice Fuels")
        s.add(
            ApiKey(
                id="key_schemathesis",
                tenant_id=tenant.id,
                prefix=KEY.split("_")[1],
                key_hash=hashlib.sha256(KEY.encode()).hexdigest(),
                name="fuzzing",
                scope="write",
                created_at=datetime.now(UTC),
            )
        )
        tenant_id = tenant.id
    return Tenant(tenant_id, KEY, {"Authorization": f"Bearer {KEY}"})


@pytest.fixture(scope="module")
def world(pg_url: str, redis_server: str) -> Iterator[dict[str, str]]:
    """One database and tenant for the whole module (building them per operation would double
    the run time); cases that change things change only this module's world."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "TICKWORK_DATABASE_URL": pg_url,
            "TICKWORK_BROKER_URL": redis_server,
            "TICKWORK_REDIS_URL": redis_server,
            "TICKWORK_RATE_LIMIT_PER_MINUTE": "1000000",
            "TICKWORK_RATE_LIMIT_PER_HOUR": "1000000",
            "TICKWORK_RATE_LIMIT_PER_DAY": "1000000",
        }.items():
            patch.setenv(name, value)
        clear_caches()
        with get_engine(pg_url).begin() as conn:
            empty_database(conn)
        redis.Redis.from_url(redis_server).flushdb()
        alice = _tenant_with_fixed_key(pg_url)
        with AppClient(APP) as client:
            yield tenant_world(client, alice)
    redis.Redis.from_url(redis_server).flushdb()
    clear_caches()


@schema.parametrize()
@settings(
    max_examples=examples(20),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_openapi_conformance(case: Any, world: dict[str, str]) -> None:
    # Half of the cases (by a hash of the generated ids: deterministic) address real resources.
    # DELETE keeps random ids, so the world stays whole for the other cases of this operation.
    params = case.path_parameters
    real = params and zlib.crc32(repr(sorted(params.items())).encode()) % 2
    if real and case.method.upper() != "DELETE":
        params.update({k: world[k] for k in params if k in world})
    case.call_and_validate(checks=CHECKS)


# --- what the fuzzing found, pinned down (the fuzzer's examples vary with its seed) ------------


def test_huge_numbers_and_nul_characters_are_400_not_500(world: dict[str, str]) -> None:
    """A page past a 64-bit OFFSET (found on GET /v1/facilities and /v1/events) and a NUL
    character, which PostgreSQL refuses in text, in any id or query parameter."""
    with AppClient(APP, raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {KEY}"}
        paths = client.get("/openapi.json").json()["paths"]
        checked = 0
        for path, operations in paths.items():
            for method, operation in operations.items():
                if "security" not in operation:
                    continue
                names = {p["name"] for p in operation.get("parameters", [])}
                attempts = [(path.format(**{n: "a%00b" for n in names if "{" + n in path}), {})]
                if method == "get":
                    attempts += [(path.format(**world), {"page": 2**63 + 1})] * ("page" in names)
                    attempts += [(path.format(**world), {n: "\x00"}) for n in names - set(world)]
                for url, params in attempts:
                    response = client.request(method, url, headers=headers, params=params)
                    assert response.status_code < 500, (method, url, params, response.text)
                    checked += 1
        assert checked > 60
