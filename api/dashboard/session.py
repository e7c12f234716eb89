"""Dashboard sign-in: an API key, checked once, becomes a signed, expiring, httpOnly cookie.

The cookie holds the key's id and a CSRF token, signed with ``itsdangerous`` (a timestamped
signature, so it expires after ``TICKWORK_DASHBOARD_SESSION_HOURS``); never the key itself. Every
request looks the key up again, so revoking a key signs its sessions out at once, and a read-only
key's session can read everything and change nothing, as through the API.

Forms carry the session's CSRF token in a hidden ``csrf`` field (or the ``X-CSRF-Token`` header
for the upload script), compared in constant time. The sign-in form, before any session exists,
uses a double-submit cookie: a random token in a cookie and in the form, which a page on another
origin can neither read nor set.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from api.deps import Caller, ReadSession
from worker.settings import get_settings
from worker.storage.models import ApiKey

COOKIE = "tw_session"
LOGIN_COOKIE = "tw_login"
PATH = "/app"
_SALT = "tickwork.dashboard.session"


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""


class ReadOnly(Exception):
    """A read-only key's session sent a form that changes something."""


class BadCsrf(Exception):
    """A form arrived without this session's token (another site, or a stale page)."""


@dataclass(frozen=True)
class Viewer(Caller):
    """The signed-in caller: what ``api.deps.Caller`` is for the API, plus the form token."""

    csrf: str = ""
    key_name: str = ""

    @property
    def can_write(self) -> bool:
        return self.scope == "write"


def _secret() -> str:
    settings = get_settings()
    if settings.dashboard_secret is not None:
        return settings.dashboard_secret.get_secret_value()
    return _kept_secret(Path(settings.data_dir) / "dashboard.secret")


@lru_cache(maxsize=8)
def _kept_secret(path: Path) -> str:
    """The random key kept in ``path``, made on first use; read once per process."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # exclusive create: two processes starting at once agree on one key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(), salt=_SALT)


def max_age() -> int:
    return int(get_settings().dashboard_session_hours * 3600)


def new_session(key_id: str) -> str:
    """The cookie value for a session of ``key_id``."""
    return _serializer().dumps({"k": key_id, "c": secrets.token_urlsafe(24)})


def _read(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    try:
        data = _serializer().loads(value, max_age=max_age())
    except BadSignature:  # includes SignatureExpired
        return None
    return data if isinstance(data, dict) and {"k", "c"} <= data.keys() else None


def viewer(request: Request, session: ReadSession) -> Viewer:
    """The signed-in caller, or ``SignInRequired``."""
    data = _read(request.cookies.get(COOKIE))
    if data is None:
        raise SignInRequired
    key = session.get(ApiKey, data["k"])
    if key is None or key.revoked_at is not None:
        raise SignInRequired
    return Viewer(
        tenant_id=key.tenant_id,
        key_id=key.id,
        scope=key.scope,
        csrf=data["c"],
        key_name=key.name or key.prefix,
    )


def same_token(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


# The signed-in caller of a page: ``who: ViewerDep`` (any), ``who: EditorDep`` (may change things).
ViewerDep = Annotated[Viewer, Depends(viewer)]


async def editor(request: Request, who: ViewerDep) -> Viewer:
    """A signed-in caller allowed to change things, whose form carries the session's token."""
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not same_token(sent, who.csrf):
        raise BadCsrf
    if not who.can_write:
        raise ReadOnly
    return who


EditorDep = Annotated[Viewer, Depends(editor)]


def cookie_options(request: Request) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": PATH,
    }
