"""The API fixtures (a real PostgreSQL and Redis behind a TestClient) for every API test file."""

from tests.api.test_api import alice, bob, client, env  # noqa: F401 - fixtures, shared
