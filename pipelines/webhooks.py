"""Outgoing webhooks, the pure part: secrets, Standard Webhooks v1 signing, the body, the retry
schedule and the SSRF address rules. HTTP, storage and scheduling live in ``worker/``.

The semantics are in docs/webhooks.md; the signing scheme is the Standard Webhooks
specification, v1 (https://www.standardwebhooks.com).

* **Secrets**: ``whsec_`` + standard base64 of 24-64 random bytes; the HMAC key is the
  decoded bytes. ``new_secret`` makes 32.
* **Signature**: ``webhook-signature`` is a space-separated list of
  ``v1,<base64 HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")>``, one entry per secret that is
  still signing (the current one plus any rotated-out one in its grace period). The
  message id stays the same on every attempt; timestamp and signature are fresh per attempt.
  Checked against the official vectors and ``standardwebhooks.Webhook.verify``.
* **Legacy header**: ``X-Signature: sha256=<hex HMAC-SHA256 of the
  body>``, keyed with the UTF-8 bytes of the whole ``whsec_...`` string (not its decoded bytes), as
  legacy receivers verify it; GitHub's scheme under another name. It holds one signature only, so
  during a rotation's grace period it is signed with the oldest secret still signing (the one a
  legacy receiver already has) and moves to the new one when that grace period ends
  (``legacy_signing_secret``). No id, no timestamp, so no replay protection: migration only.
* **Body**: ``{"event", "timestamp", "data"}`` serialised once,
  compact, UTF-8; those exact bytes are signed and sent (re-serialising breaks signatures).
* **Retries**: the schedule, jitter, ``Retry-After`` and the
  overload floor are in ``next_delay``. 2xx only is success; 410 disables at once.
* **SSRF**: ``forbidden_reason`` says why an address is
  refused, ``check_url`` validates the endpoint URL, ``resolve_and_check`` resolves the host and
  refuses it when *any* address is forbidden, so a name that also (or later) resolves inward is
  refused. The worker must then connect to one of the returned addresses, not resolve again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import random
import re
import secrets as _secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from pipelines.errors import MalformedInputError, PipelineError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# ------------------------------------------------------------------------------------- errors


@dataclass
class InvalidSecretError(PipelineError):
    """A webhook secret is not ``whsec_`` + base64 of 24-64 bytes. Never carries the secret."""

    reason: str
    code = "invalid_secret"
    template = "invalid webhook secret: {reason}"


@dataclass
class InvalidUrlError(PipelineError):
    """An endpoint URL that may not be used. Carries the reason only: URLs can hold credentials."""

    reason: str
    code = "invalid_url"
    template = "invalid webhook URL: {reason}"


@dataclass
class ForbiddenAddressError(PipelineError):
    """``host`` resolved to ``address``, which the SSRF rules refuse for ``reason``."""

    host: str
    address: str
    reason: str
    code = "forbidden_address"
    template = "{host} resolves to {address}: {reason}; refused"


# ------------------------------------------------------------------------------------ secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # Standard Webhooks: 24-64 bytes
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def new_secret(nbytes: int = SECRET_BYTES) -> str:
    """A fresh ``whsec_<base64 of nbytes random bytes>`` secret."""
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise ValueError(f"nbytes must be {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES}, got {nbytes}")
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret: its base64 part decoded (standard alphabet; missing
    ``=`` padding is tolerated as the reference libraries do). Raises
    ``InvalidSecretError`` without the prefix, on any other character, or outside 24-64 bytes.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecretError(f"must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    if not _BASE64.fullmatch(encoded):
        raise InvalidSecretError("the part after the prefix is not standard base64")
    unpadded = encoded.rstrip("=")
    if len(unpadded) % 4 == 1:
        raise InvalidSecretError("the base64 part has an impossible length")
    try:
        key = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except binascii.Error as exc:  # pragma: no cover - the regex and length check rule it out
        raise InvalidSecretError("the part after the prefix is not standard base64") from exc
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidSecretError(
            f"decodes to {len(key)} bytes; {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} are required"
        )
    return key


# ------------------------------------------------------------------------------------ signing

# Ids go into a header and into the signed string, whose fields are split on ".": visible ASCII
# without ".".
_MSG_ID = re.compile(r"[!-\-/-~]{1,255}")


def signed_content(*, msg_id: str, timestamp: int, body: bytes) -> bytes:
    """The bytes every ``v1`` signature covers: ``{msg_id}.{timestamp}.{body}``."""
    if not _MSG_ID.fullmatch(msg_id):
        raise MalformedInputError(
            f"webhook message id {msg_id!r} must be 1-255 visible ASCII characters without '.'"
        )
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise MalformedInputError(
            f"webhook timestamp must be non-negative integer Unix seconds, got {timestamp!r}"
        )
    return f"{msg_id}.{timestamp}.".encode("ascii") + body


def sign(*, msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256>`` per secret, space-separated,
    in the order given (duplicates once). ``timestamp`` is integer Unix seconds; ``body`` the exact
    bytes sent. Several secrets = rotation grace period.
    """
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, not one string")
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    content = signed_content(msg_id=msg_id, timestamp=timestamp, body=body)
    entries: list[str] = []
    for secret in dict.fromkeys(secrets):
        mac = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
        entries.append("v1," + base64.b64encode(mac).decode("ascii"))
    return " ".join(entries)


def legacy_signature(*, body: bytes, secret: str) -> str:
    """The legacy ``X-Signature`` value ``sha256=<hex HMAC-SHA256(secret UTF-8, body)>``."""
    if not secret:
        raise ValueError("the legacy secret is empty")
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def legacy_signing_secret(secrets: Sequence[str]) -> str:
    """The secret that keys ``X-Signature``: the oldest of those still signing.

    ``secrets`` is the endpoint's signing secrets, newest first (the current one, then those in
    their grace period). ``webhook-signature`` carries one entry per secret, but a legacy
    receiver compares ``X-Signature`` with the one value it computes, so that header can only
    serve one secret: the one receivers held before the rotation, until its grace period ends.
    A receiver moves to the new secret within the grace period (or accepts either meanwhile).
    """
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, not one string")
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return secrets[-1]


def headers(
    *,
    msg_id: str,
    timestamp: int,
    body: bytes,
    secrets: Sequence[str],
    legacy_secret: str | None = None,
) -> dict[str, str]:
    """Headers for one attempt: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``,
    ``content-type: application/json``, and ``X-Signature`` when ``legacy_secret`` is given (the
    spec allows legacy headers alongside; ``legacy_signing_secret`` picks it). Call it
    again for every attempt with a fresh ``timestamp`` and the same ``msg_id``.
    """
    out = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(msg_id=msg_id, timestamp=timestamp, body=body, secrets=secrets),
        "content-type": "application/json",
    }
    if legacy_secret is not None:
        out["X-Signature"] = legacy_signature(body=body, secret=legacy_secret)
    return out


# --------------------------------------------------------------------------------------- body

_EVENT = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")  # ref feature table, "Event-type"


def encode_event(event: str, timestamp: datetime, data: dict[str, Any]) -> bytes:
    """The request body ``{"event": ..., "timestamp": ..., "data": {...}}`` as UTF-8 JSON bytes.

    Compact separators, non-ASCII kept as UTF-8, keys in the order given (never sorted), so the
    same input always gives the same bytes. ``timestamp`` must be tz-aware; it is written in UTC
    as ISO 8601 with ``Z`` (microseconds only when non-zero), like ``worker.storage.events.iso``.
    NaN/Infinity and non-JSON values raise ``MalformedInputError``: they are not JSON.
    """
    if not _EVENT.fullmatch(event):
        raise MalformedInputError(f"event type {event!r} must be dotted [A-Za-z0-9_] names")
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise MalformedInputError("the event timestamp is naive; give it a time zone")
    stamp = timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
    payload = {"event": event, "timestamp": stamp, "data": data}
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MalformedInputError(f"event data is not plain JSON: {exc}") from exc
    # surrogatepass would send invalid UTF-8 that receivers cannot decode; refuse lone surrogates.
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInputError("event data holds a lone surrogate, not valid UTF-8") from exc


# ------------------------------------------------------------------------------------ retries

# Delay before attempt n+1 after n attempts, Svix's published schedule ("Retries", Svix docs):
# immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h -> 8 attempts over ~27.6 h.
RETRY_SCHEDULE_S: tuple[int, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_S)
JITTER = 0.2  # +-20 %, Svix JITTER_DELTA
OVERLOAD_FLOOR_S = 60.0  # Svix OVERLOAD_PENALTY_SECS after a timeout or 429
RETRY_AFTER_CAP_S = 86400.0  # a receiver may push a retry back at most 24 h
THROTTLE_STATUSES = frozenset({429, 502, 503, 504})  # overload answers: back off harder
_DELTA_SECONDS = re.compile(r"[0-9]+")
_RNG = random.Random()


def parse_retry_after(value: str, *, now: datetime | None = None) -> float | None:
    """Seconds from ``now`` asked for by a ``Retry-After`` value (RFC 9110 §10.2.3: delay-seconds
    or an HTTP-date), >= 0; None when it is neither.
    """
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(min(int(value), 10**12))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    now = datetime.now(UTC) if now is None else now
    if now.tzinfo is None:
        raise ValueError("now must be tz-aware")
    return max(0.0, (when - now).total_seconds())


def next_delay(
    attempt: int,
    *,
    retry_after: str | None = None,
    throttled: bool = False,
    now: datetime | None = None,
    rng: random.Random | None = None,
    jitter: float = JITTER,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, ``attempt`` attempts having been made
    (``next_delay(1)`` ~ 5 s); None once the schedule is exhausted (after ``MAX_ATTEMPTS``).

    * Plain failure: ``base = RETRY_SCHEDULE_S[attempt]`` times a uniform factor in
      ``[1 - jitter, 1 + jitter]`` (default +-20 %, as Svix), so endpoints failing together do not
      retry together. Never negative (``base >= 0``, ``jitter < 1``).
    * Receiver hints: a parseable ``Retry-After`` (seconds or HTTP-date, measured from ``now``),
      and ``throttled=True`` (timeout, 429/502/503/504: at least ``OVERLOAD_FLOOR_S``, as Svix)
      set a floor. Then ``delay = max(base, floors)`` times a factor in ``[1, 1 + jitter]`` --
      jitter only upwards, so the hint is never undercut -- capped at ``RETRY_AFTER_CAP_S`` (24 h):
      never sooner than the schedule or the hint, never later than a day. Svix instead clamps
      ``Retry-After`` to ``[base, 2 x base]`` and jitters both ways; we trust a receiver's
      longer hint up to a day since a shorter clamp would just burn attempts into its outage.
    * An unparseable ``Retry-After`` is ignored. ``jitter=0`` gives the exact schedule.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    if attempt >= MAX_ATTEMPTS:
        return None
    rng = _RNG if rng is None else rng
    base = float(RETRY_SCHEDULE_S[attempt])
    hint = parse_retry_after(retry_after, now=now) if retry_after is not None else None
    if throttled:
        hint = max(hint or 0.0, OVERLOAD_FLOOR_S)
    if hint is None:
        return base * rng.uniform(1.0 - jitter, 1.0 + jitter)
    floor = min(max(base, hint), RETRY_AFTER_CAP_S)
    return min(floor * rng.uniform(1.0, 1.0 + jitter), RETRY_AFTER_CAP_S)


def is_success(status: int) -> bool:
    """2xx only; a 3xx is a failure and is never followed."""
    return 200 <= status <= 299


def disables_now(status: int) -> bool:
    """410 Gone: the receiver says the endpoint is gone; disable it at once."""
    return status == 410


def is_throttling(status: int) -> bool:
    """429, 502, 503, 504: the receiver is overloaded; pass ``throttled=True`` to ``next_delay``."""
    return status in THROTTLE_STATUSES


# --------------------------------------------------------------------------------------- SSRF


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Checked in order; the first match names the reason. IANA special-purpose registries (RFC 6890
# and successors); stricter than Svix: IPv4 multicast and IPv6 site-local included.
_V4_RULES: tuple[tuple[tuple[IPNetwork, ...], str], ...] = (
    (_nets("255.255.255.255/32"), "limited broadcast"),
    (_nets("0.0.0.0/8"), "unspecified / 'this network' (0.0.0.0/8)"),
    (_nets("127.0.0.0/8"), "loopback"),
    (_nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"), "private (RFC 1918)"),
    (_nets("100.64.0.0/10"), "carrier-grade NAT shared space (100.64.0.0/10)"),
    (_nets("169.254.0.0/16"), "link-local (incl. cloud metadata 169.254.169.254)"),
    (_nets("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"),
    (_nets("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"), "documentation (TEST-NET)"),
    (_nets("192.88.99.0/24"), "6to4 relay anycast (deprecated)"),
    (_nets("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"),
    (_nets("224.0.0.0/4"), "multicast"),
    (_nets("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
)
_V6_RULES: tuple[tuple[tuple[IPNetwork, ...], str], ...] = (
    (_nets("::/128"), "unspecified (::)"),
    (_nets("::1/128"), "loopback (::1)"),
    (_nets("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"),
    (_nets("100::/64"), "discard-only (100::/64)"),
    (_nets("2001:db8::/32", "3fff::/20"), "documentation"),
    (_nets("2001::/23"), "IETF protocol assignments (2001::/23)"),
    (_nets("fc00::/7"), "unique local (fc00::/7)"),
    (_nets("fe80::/10"), "link-local (fe80::/10)"),
    (_nets("fec0::/10"), "site-local (deprecated, fec0::/10)"),
    (_nets("ff00::/8"), "multicast"),
    (_nets("5f00::/16"), "SRv6 SIDs (5f00::/16)"),
)
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_COMPAT = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TEREDO = ipaddress.ip_network("2001::/32")
_6TO4 = ipaddress.ip_network("2002::/16")


@lru_cache(maxsize=64)
def _allow_networks(allow: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(a.strip()) for a in allow)
    except ValueError as exc:
        raise ValueError(f"bad SSRF allow-list entry (want an address or a CIDR): {exc}") from exc


def parse_allow(allow: Sequence[str]) -> tuple[IPNetwork, ...]:
    """The operator allow-list as networks; ``ValueError`` on a bad entry (a CIDR with host bits
    set, e.g. ``10.0.0.1/8``, is refused as ambiguous). Settings should call it at start-up.
    """
    if isinstance(allow, str):
        raise TypeError("allow must be a sequence of CIDRs/addresses, not one string")
    return _allow_networks(tuple(allow))


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """IPv4 addresses an IPv6 address carries, with the name of the embedding."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _MAPPED:
        return [("IPv4-mapped", low32)]
    if ip in _COMPAT:
        return [("IPv4-compatible", low32)]
    if ip in _NAT64:
        return [("NAT64", low32)]
    if ip in _6TO4 and ip.sixtofour is not None:
        return [("6to4", ip.sixtofour)]
    if ip in _TEREDO and ip.teredo is not None:
        server, client = ip.teredo
        return [("Teredo server", server), ("Teredo client", client)]
    return []


def _v4_reason(ip: ipaddress.IPv4Address) -> str | None:
    for nets, reason in _V4_RULES:
        if any(ip in n for n in nets):
            return reason
    return None


def forbidden_reason(ip: str | IPAddress, *, allow: Sequence[str] = ()) -> str | None:
    """Why a webhook may not connect to ``ip``, or None when it may.

    Refused: IPv4 loopback, RFC 1918, CGNAT 100.64/10, link-local (cloud metadata), 0/8,
    broadcast, multicast, 240/4, 192.0.0/24, documentation, benchmarking, 6to4 relay; IPv6 ::,
    ::1, ULA fc00::/7, link-local, site-local, multicast, documentation, 2001::/23, discard,
    local-use NAT64, SRv6; every IPv6 form that embeds a refused IPv4 (mapped ``::ffff:a.b.c.d``,
    compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo), plus all of
    Teredo and IPv4-compatible (client tunnels / deprecated, never a webhook server); finally
    anything Python's ``is_global`` calls non-global. IPv4-mapped, NAT64 and 6to4 forms of a
    public IPv4 address are allowed.

    ``allow``: operator CIDRs/addresses that override the refusal. An entry matches the address
    itself or, for ``::ffff:a.b.c.d``, the IPv4 address it is (the same socket destination).
    """
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        addr = ipaddress.IPv6Address(int(addr))  # "fe80::1%eth0": judge the address itself
    networks = parse_allow(allow)
    same = [addr]
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        same.append(addr.ipv4_mapped)
    if any(a.version == n.version and a in n for a in same for n in networks):
        return None

    if isinstance(addr, ipaddress.IPv4Address):
        reason = _v4_reason(addr)
        if reason is None and not addr.is_global:
            reason = "not globally routable"
        return reason

    if addr in _COMPAT and int(addr) <= 1:  # :: and ::1 before the IPv4-compatible rule
        return "unspecified (::)" if int(addr) == 0 else "loopback (::1)"
    for kind, v4 in _embedded_v4(addr):
        inner = forbidden_reason(v4)
        if inner is not None:
            return f"{kind} {v4}: {inner}"
    if addr in _TEREDO:
        return "Teredo tunnel (2001::/32): a client address, never a server"
    if addr in _COMPAT:
        return "IPv4-compatible (deprecated, ::/96)"
    for nets, reason in _V6_RULES:
        if any(addr in n for n in nets):
            return reason
    if addr.ipv4_mapped is None and addr not in _NAT64 and addr not in _6TO4 and not addr.is_global:
        return "not globally routable"
    return None


_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


def check_url(url: str, *, allow_http: bool = False) -> tuple[str, int]:
    """``(host, port)`` of a webhook endpoint URL, or ``InvalidUrlError``.

    https only unless ``allow_http``; no user/password; a host that is an IP literal or an ASCII
    DNS name (IDNs in their ``xn--`` form: one IDNA encoding for us and the HTTP client); no
    inet_aton shorthands (``127.1``, ``0x7f.1``, ``2130706433``) that resolvers read as IPv4;
    port 1-65535 (default 443/80). No control characters or whitespace anywhere (``urlsplit``
    silently drops tabs/newlines, so two parsers could disagree). Syntax only: the address checks
    are ``resolve_and_check``'s, which the worker runs at connect time. The host is lower-cased,
    without brackets or a trailing dot.
    """
    if any(ord(c) <= 0x20 or c == "\x7f" or c == "\\" for c in url):
        raise InvalidUrlError("the URL holds whitespace, a control character or a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrlError(f"the URL does not parse ({exc})") from exc
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_http else ("https",)
    if scheme not in allowed:
        raise InvalidUrlError(f"scheme must be {' or '.join(allowed)}, got {scheme or 'none'!r}")
    if "@" in parts.netloc:
        raise InvalidUrlError("credentials in the URL are not allowed")
    host = parts.hostname or ""
    host = host[:-1] if host.endswith(".") else host  # "example.com." is the same name
    if not host:
        raise InvalidUrlError("the URL has no host")
    if port is None:
        port = 443 if scheme == "https" else 80
    if not 1 <= port <= 65535:
        raise InvalidUrlError(f"port {port} is out of range")
    if parts.netloc.startswith("["):
        try:
            literal = ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise InvalidUrlError("the bracketed host is not an IPv6 address") from exc
        if literal.scope_id is not None:
            raise InvalidUrlError("IPv6 zone ids are not allowed")
        return literal.compressed, port
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return str(ipaddress.IPv4Address(host)), port
        except ValueError as exc:
            raise InvalidUrlError("a numeric host must be a dotted-quad IPv4 address") from exc
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidUrlError("the host is not a valid ASCII DNS name (use xn-- for IDNs)")
    return host, port


Resolver = Callable[..., Sequence[tuple[Any, Any, Any, Any, tuple[Any, ...]]]]


def resolve_and_check(
    host: str,
    port: int,
    *,
    allow: Sequence[str],
    resolver: Resolver = socket.getaddrinfo,
) -> list[str]:
    """Resolve ``host`` with ``resolver`` (``getaddrinfo``-shaped; called as
    ``resolver(host, port, type=socket.SOCK_STREAM)``) and return its distinct addresses, in the
    resolver's order, when every one is allowed by ``forbidden_reason``.

    Raises ``ForbiddenAddressError`` when *any* address is refused -- a name with a public and an
    internal address, or a rebinding name, is refused as a whole (Svix instead drops the refused
    ones). An IP literal is checked without calling the resolver. Resolver errors
    (``socket.gaierror``) propagate; an empty answer raises ``socket.gaierror`` too. The worker
    must connect to a returned address (sending the original Host/SNI), never re-resolve.
    """
    allow = tuple(allow)
    parse_allow(allow)  # a bad allow-list fails here, not as a refused address
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        candidates: list[str] = [str(literal)]
    else:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
        candidates = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not candidates:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} resolved to no address")
    for candidate in candidates:
        try:
            reason = forbidden_reason(candidate, allow=allow)
        except ValueError:
            reason = "not an IP address"
        if reason is not None:
            raise ForbiddenAddressError(host=host, address=candidate, reason=reason)
    return candidates


__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_SCHEDULE_S",
    "ForbiddenAddressError",
    "InvalidSecretError",
    "InvalidUrlError",
    "check_url",
    "disables_now",
    "encode_event",
    "forbidden_reason",
    "headers",
    "is_success",
    "is_throttling",
    "legacy_signature",
    "legacy_signing_secret",
    "new_secret",
    "next_delay",
    "parse_allow",
    "resolve_and_check",
    "secret_bytes",
    "sign",
    "signed_content",
]
