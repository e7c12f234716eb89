"""Python client for the Tickwork API.

::

    import tickwork_client

    client = tickwork_client.Client("tw_...", base_url="http://127.0.0.1:8000")
    for point in client.data_points.list(
        facility_id="fac_...", start_date="2025-01-01", end_date="2025-01-31"
    ):
        print(point.timestamp, point.value)
"""

from tickwork_client import models, webhooks
from tickwork_client._client import AsyncClient, Client
from tickwork_client._pagination import AsyncPager, Page, Pager
from tickwork_client._retry import RetryPolicy
from tickwork_client._version import __version__
from tickwork_client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    TickworkError,
    WaitTimeout,
    WebhookVerificationError,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncClient",
    "AsyncPager",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "Page",
    "Pager",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailableError",
    "TickworkError",
    "WaitTimeout",
    "WebhookVerificationError",
    "__version__",
    "models",
    "webhooks",
]
