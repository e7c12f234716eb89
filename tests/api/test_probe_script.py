"""bench/probe.py's probe, in process on PostgreSQL: every operation with boundary values, no
5xx, no leak, errors in the error format, rate-limit headers on every keyed answer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.asgi import AppClient
from tests.factories import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _probe_module() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "probe.py"
    spec = importlib.util.spec_from_file_location("tickwork_bench_probe", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_probe_finds_nothing(client: AppClient, alice: Tenant, bob: Tenant, configure) -> None:
    configure(
        TICKWORK_RATE_LIMIT_PER_MINUTE="10000000",
        TICKWORK_RATE_LIMIT_PER_HOUR="10000000",
        TICKWORK_RATE_LIMIT_PER_DAY="10000000",
    )
    report = _probe_module().probe(client, key=alice.key, foreign_key=bob.key)
    found = report.to_dict()
    assert report.failures() == 0, found
    assert report.requests > 2000
    assert not [s for s in report.by_status if s >= 500]
    assert report.by_status[400] > 1000 and report.by_status[404] > 100  # it did probe
