"""The client library's tests run against a real ``tickwork serve`` (API, worker and beat
processes) on the test PostgreSQL and Redis, never against a mocked server (tests/serving.py).

One server serves the whole package (starting it costs seconds); each test gets a tenant of its
own.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import tickwork_client

from tests.factories import Tenant
from tests.sdk.recording import Recorder
from tests.serving import Server, flushed_redis, own_database, serving


@pytest.fixture(scope="package")
def database() -> Iterator[str]:
    with own_database("tickwork_sdk") as url:
        yield url


@pytest.fixture(scope="package")
def broker() -> Iterator[str]:
    with flushed_redis() as url:
        yield url


@pytest.fixture(scope="package")
def server(
    database: str, broker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serving(database, broker, tmp_path_factory.mktemp("sdk-server")) as running:
        yield running


@pytest.fixture
def tenant(server: Server) -> Tenant:
    return server.tenant("sdk")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(server: Server, tenant: Tenant, recorder: Recorder) -> Iterator[tickwork_client.Client]:
    http = httpx.Client(event_hooks=recorder.hooks())  # type: ignore[arg-type]
    with http, tickwork_client.Client(tenant.key, base_url=server.url, http_client=http) as c:
        yield c
