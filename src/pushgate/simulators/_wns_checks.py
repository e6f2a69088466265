"""What the WNS simulator checks in a request, and how it answers (docs/protocols/wns.md §8).

Kept apart from the server so every rule can be read (and tested) on its
own. Each check returns a :class:`Problem` (the status and the
``X-WNS-Error-Description`` real WNS would send) or the parsed value.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qs
from xml.parsers import expat

from pushgate.simulators._server import SimRequest, SimResponse

# The simulator's own copy of the wire limits (not the client's: a test compares the two).
MAX_BODY = 5000  # bytes, docs/protocols/wns.md §5 (413)
LABEL_MAX = 16  # X-WNS-Tag / X-WNS-Group, docs/protocols/wns.md §1 and §3.1
XML_TYPES = {"wns/toast": "toast", "wns/tile": "tile", "wns/badge": "badge"}
TYPES = frozenset({*XML_TYPES, "wns/raw"})
APP_SDK_TYPES = frozenset({"wns/toast", "wns/raw"})  # docs/protocols/wns.md §1: no tile or badge
CACHE_POLICIES = frozenset({"cache", "no-cache"})
BOOLEANS = frozenset({"true", "false"})
FORM_TYPE = "application/x-www-form-urlencoded"
CLASSIC_SCOPE = "notify.windows.com"
ENTRA_SCOPE = "https://wns.windows.com/.default"
EXPIRED_CHALLENGE = 'Bearer error="invalid_request",error_description="Token has expired"'



def parse_xml(data: str | bytes) -> ET.Element:
    """Parse XML, refusing DTDs (so no entity expansion); ValueError if not well-formed."""

    def refuse(*_: object) -> None:
        raise ValueError("DTDs and entity declarations are not allowed")

    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = refuse
    checker.EntityDeclHandler = refuse
    try:
        checker.Parse(data, True)
        return ET.fromstring(data)
    except (expat.ExpatError, ET.ParseError) as exc:
        raise ValueError(f"XML is not well-formed: {exc}") from exc

@dataclass(slots=True)
class RateLimit:
    """``limit`` requests per fixed ``window`` seconds, counted per key (app or
    channel) by the injected clock."""

    limit: int
    window: float
    counters: dict[str, tuple[float, int]] = field(default_factory=dict)  # key → (start, count)

    def hit(self, key: str, now: float) -> float | None:
        """Count one request; seconds until its window ends if over the limit."""
        start, count = self.counters.get(key, (now, 0))
        if now >= start + self.window:
            start, count = now, 0
        self.counters[key] = (start, count + 1)
        return start + self.window - now if count + 1 > self.limit else None


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    description: str


@dataclass(frozen=True, slots=True)
class Notify:
    """A notification request that passed every header and body check."""

    type: str
    content_type: str
    cache_policy: str | None
    request_for_status: bool
    ttl: int | None
    tag: str | None
    group: str | None
    body: bytes


def _single(request: SimRequest, name: str) -> str | Problem | None:
    values = request.header_all(name)
    if len(values) > 1:
        return Problem(400, f"{name} given more than once")
    return values[0].strip() if values else None


def check_framing(request: SimRequest) -> Problem | None:
    """docs/protocols/wns.md §1 and §3.1: Content-Length is required, chunked bodies are not supported."""
    encoding = request.header("transfer-encoding")
    if encoding is not None and "chunked" in encoding.lower():
        return Problem(400, "Chunked transfer encoding is not supported")
    length = request.header("content-length")
    if length is None:
        return Problem(400, "Content-Length header is required")
    if not length.strip().isdecimal() or int(length) != len(request.body):
        return Problem(400, "Content-Length does not match the body")
    return None


def bearer_token(request: SimRequest) -> str | None:
    value = request.header("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_notify(request: SimRequest, *, app_sdk: bool) -> Notify | Problem:
    """Headers (docs/protocols/wns.md §1 and §3.1), size (413) and XML root (docs/protocols/wns.md §4) of a
    notification request."""
    values: dict[str, str | None] = {}
    for name in ("x-wns-type", "content-type", "x-wns-cache-policy", "x-wns-requestforstatus",
                 "x-wns-ttl", "x-wns-tag", "x-wns-group"):
        value = _single(request, name)
        if isinstance(value, Problem):
            return value
        values[name] = value
    wns_type = (values["x-wns-type"] or "").lower()
    if wns_type not in TYPES:
        return Problem(400, "X-WNS-Type must be wns/toast, wns/tile, wns/badge or wns/raw")
    if app_sdk and wns_type not in APP_SDK_TYPES:
        return Problem(400, f"{wns_type} is not supported for Windows App SDK applications")
    content_type = (values["content-type"] or "").split(";", 1)[0].strip().lower()
    expected = "application/octet-stream" if wns_type == "wns/raw" else "text/xml"
    if content_type != expected:
        return Problem(400, f"Content-Type must be {expected} for {wns_type}")
    if request.header("x-wns-suppresspopup") is not None:
        return Problem(400, "X-WNS-SuppressPopup is only valid for Windows Phone channels")
    cache_policy = values["x-wns-cache-policy"]
    if cache_policy is not None and cache_policy.lower() not in CACHE_POLICIES:
        return Problem(400, "X-WNS-Cache-Policy must be cache or no-cache")
    status = values["x-wns-requestforstatus"]
    if status is not None and status.lower() not in BOOLEANS:
        return Problem(400, "X-WNS-RequestForStatus must be true or false")
    ttl = values["x-wns-ttl"]
    if ttl is not None and not (ttl.isascii() and ttl.isdecimal()):
        return Problem(400, "X-WNS-TTL must be a non-negative integer")
    for name in ("x-wns-tag", "x-wns-group"):
        label = values[name]
        if label is not None and not 0 < len(label) <= LABEL_MAX:
            return Problem(400, f"{name} must be 1 to {LABEL_MAX} characters")
    if len(request.body) > MAX_BODY:
        return Problem(413, f"The payload exceeds {MAX_BODY} bytes")
    if not request.body:
        return Problem(400, "The notification payload is empty")
    root = XML_TYPES.get(wns_type)
    if root is not None:
        problem = check_xml(request.body, root)
        if problem is not None:
            return problem
    return Notify(
        type=wns_type,
        content_type=content_type,
        cache_policy=cache_policy.lower() if cache_policy else None,
        request_for_status=(status or "").lower() == "true",
        ttl=int(ttl) if ttl is not None else None,
        tag=values["x-wns-tag"],
        group=values["x-wns-group"],
        body=request.body,
    )


def check_xml(body: bytes, root: str) -> Problem | None:
    """Well-formed XML whose root element names the type (docs/protocols/wns.md §8)."""
    try:
        element = parse_xml(body)
    except ValueError:
        return Problem(400, "The XML payload is not well-formed")
    if element.tag != root:
        return Problem(400, f"The XML root element must be <{root}>")
    if root == "badge":
        value = element.get("value")
        if value is None or not value:
            return Problem(400, "A badge needs a value attribute")
    return None


def token_form(request: SimRequest) -> dict[str, str] | tuple[str, str]:
    """The fields of an OAuth token request, or (error, description) (RFC 6749 §4.4)."""
    if request.method != "POST":
        return "invalid_request", "The token endpoint only accepts POST"
    content_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type != FORM_TYPE:
        return "invalid_request", f"Content-Type must be {FORM_TYPE}"
    try:
        parsed = parse_qs(request.body.decode("utf-8"), strict_parsing=True, keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return "invalid_request", "The request body is not a form"
    form: dict[str, str] = {}
    for key, values in parsed.items():
        if len(values) != 1:
            return "invalid_request", f"{key} given more than once"
        form[key] = values[0]
    if form.get("grant_type") != "client_credentials":
        return "unsupported_grant_type", "grant_type must be client_credentials"
    for key in ("client_id", "client_secret", "scope"):
        if not form.get(key):
            return "invalid_request", f"{key} is required"
    return form


# -- answers ------------------------------------------------------------------------


def same_secret(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def header(response: SimResponse, name: str) -> str | None:
    return next((v for k, v in response.headers if k == name), None)


def reply(
    request: SimRequest, status: int, description: str | None, headers: list[tuple[str, str]] | None = None
) -> SimResponse:
    """A WNS answer: message id, correlation vector (echoed or new), error description."""
    cv = request.header("ms-cv") or base64.b64encode(secrets.token_bytes(12)).decode() + ".0"
    out = [("x-wns-msg-id", secrets.token_hex(8).upper()), ("ms-cv", cv), *(headers or [])]
    if description is not None:
        out.append(("x-wns-error-description", description))
    return SimResponse(status, out, b"")


def oauth_error(status: int, error: str, description: str) -> SimResponse:
    """An OAuth 2.0 error answer (RFC 6749 §5.2)."""
    return SimResponse.json(status, {"error": error, "error_description": description})
