"""Server settings: typed, validated once at start-up, from a TOML file and
``PUSHGATE_*`` environment variables.

Unknown keys are an error, not a silent default (a typo in ``databse_url``
must not quietly run on the embedded default). Nested keys use ``__`` in the
environment: ``PUSHGATE_PROVIDERS__APNS__BASE_URL``. Environment variables
win over the file. Anything that shows the configuration shows
:meth:`Settings.redacted`.

Example ``pushgate.toml``::

    database_url = "postgresql+psycopg://pushgate@db/pushgate"
    queue = "sql"
    workers = 2
    max_queue_depth = 2_000_000

    [providers.apns]           # point a provider at a simulator or a proxy
    base_url = "https://127.0.0.1:8443"
    ca_file = "/home/me/sims-ca.pem"   # the CA file `pushgate simulate` printed
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pushgate.allowed_hosts import HostRule
from pushgate.errors import ConfigurationError
from pushgate.field_names import did_you_mean, fields_at

ENV_PREFIX = "PUSHGATE_"
CONFIG_ENV = "PUSHGATE_CONFIG"  # path of the TOML file, when not given on the command line
ProviderName = Literal["apns", "fcm", "webpush", "wns"]
# The credentials encryption key is a passphrase stretched by HKDF, not a
# password KDF: it must carry its own entropy (e.g. `openssl rand -base64 32`).
SECRET_KEY_MIN_LENGTH = 32


_URL_EXAMPLES = {"base_url": "https://push.example.net", "token_url": "https://login.example.net/oauth2/token"}


class ProviderEndpoint(BaseModel):
    """Where a provider is reached, for simulators, proxies and tests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # APNs / FCM / WNS: the API origin (WNS also takes its access token from it unless
    # token_url is set). Web Push: a push service of your own, a proxy or a simulator.
    # Web Push and WNS allow its host for endpoints, beside the built-in services.
    base_url: str | None = None
    token_url: str | None = None  # OAuth token endpoint (FCM service accounts carry their own)
    ca_file: str | None = None  # trust this CA instead of the system store
    # Web Push / WNS endpoint hosts allowed beside the built-in push services (the SSRF
    # guard): "host" (port 443), "host:port", "*.suffix", IPv6 as "::1" or "[::1]:8443"
    # (pushgate.allowed_hosts). They add, never replace.
    allowed_hosts: list[str] | None = None
    # Seconds a request may wait for the provider's answer before it is retried as a
    # temporary failure (None: the client's default, 30 s).
    request_timeout: float | None = Field(default=None, gt=0)

    @field_validator("allowed_hosts")
    @classmethod
    def _readable_hosts(cls, value: list[str] | None) -> list[str] | None:
        # Read now, as the registry and the clients will: a typo is a start-up error naming
        # the setting, not a paused app or an endpoint refused for no visible reason.
        for entry in value or ():
            HostRule.parse(entry)
        return value

    @field_validator("base_url", "token_url")
    @classmethod
    def _an_http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # base_url's host is allowed for endpoints (added_hosts): an unreadable one ("https://[::1")
        # is a start-up error naming the setting, not a traceback when the API starts. token_url is
        # only called when a client fetches a token: checked now, not as a paused app at the first send.
        if value is None:
            return value
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises for an unreadable port
        except ValueError as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a URL such as {_URL_EXAMPLES[info.field_name or 'base_url']}")
        return value

    def added_hosts(self) -> tuple[str, ...]:
        """Endpoint hosts allowed beside the provider's built-in push services:
        ``allowed_hosts`` and ``base_url``'s ``host[:port]`` (README, "Configuration")."""
        hosts = list(self.allowed_hosts or ())
        if self.base_url:
            netloc = urlsplit(self.base_url).netloc.rsplit("@", 1)[-1]
            if netloc and netloc not in hosts:
                hosts.append(netloc)
        return tuple(hosts)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Storage and queue. "sql": the queue's jobs live in the same database; "redis": in
    # Redis Streams at redis_url, for API and worker processes on many machines
    # (docs/scale-out.md).
    database_url: str = "sqlite:///pushgate.db"
    queue: Literal["sql", "redis"] = "sql"

    # HTTP API
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    admin_token: SecretStr | None = None  # guards /v1/apps; None: admin routes only via the CLI
    max_request_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Threads that run the API's blocking work (database reads and writes): a few keep the
    # cores busy; dozens only trade the GIL back and forth (server/app.py).
    api_threads: int = Field(default=8, ge=1)

    # Encryption at rest of the apps' provider credentials (None: stored in plain text).
    secret_key: SecretStr | None = None
    previous_secret_keys: list[SecretStr] = Field(default_factory=list)  # decrypt only (rotation)

    # Sending
    workers: int = Field(default=1, ge=0)  # sender workers inside `pushgate serve` (0: API only)
    worker_concurrency: int = Field(default=1000, ge=1)  # requests in flight per worker
    # Devices per delivery job. Each job pays a claim, a load, a wait for its outcomes
    # to be written and a completion: 1,000 devices share them (500: ~10% fewer deliveries/s).
    chunk_size: int = Field(default=1000, ge=1)  # planner.fanout.DEFAULT_CHUNK_SIZE
    # A killed worker's jobs come back this long after its last heartbeat (every third
    # of it, workers/context.py); short, so a crash delays a broadcast by seconds.
    lease_seconds: float = Field(default=15.0, gt=0)
    max_tries: int = Field(default=10, ge=1)
    # The longest a delivery waits for its next try, whatever Retry-After a provider
    # answers (an FCM 429 with Retry-After: 999999 would park it for 11.6 days).
    max_retry_delay: float = Field(default=300.0, gt=0)
    # How long after a send started its deliveries may wait for a provider paused by
    # rejected credentials (registry/pauses.py) before they are recorded failed with the
    # provider's reason (e.g. InvalidProviderToken); None: they wait until the credentials
    # are fixed or the notification expires.
    max_credentials_wait: float | None = Field(default=86400.0, gt=0)
    max_queue_depth: int = Field(default=1_000_000, ge=1)  # pending deliveries before 503
    # Sends to named tokens, devices or users are admitted against a bound of their own
    # (deliveries waiting in the direct lanes), so a login code is still accepted while a
    # broadcast fills max_queue_depth.
    max_direct_queue_depth: int = Field(default=100_000, ge=1)
    backpressure_retry_after: int = Field(default=5, ge=1)
    max_devices_per_user: int | None = Field(default=None, ge=1)
    # Requests per API key per minute (service/rate_limits.py), shared by the API processes
    # of one database; an app's own `rate_limit_per_minute` setting wins. None: no limit.
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    # Requests per client address per minute on the routes called without an API key (the
    # Web SDK's, the device routes, displayed/clicked reports), counted in each API process
    # (service/rate_limits.py, "Public routes"). None: no limit.
    public_rate_limit_per_minute: int | None = Field(default=600, ge=1)
    providers: dict[ProviderName, ProviderEndpoint] = Field(default_factory=dict)

    # Retention (registry/retention.py), run by the workers' housekeeping in small batches.
    # None: keep forever. A finished send keeps its counters; its delivery rows go.
    deliveries_retention_days: float | None = Field(default=30.0, gt=0)
    # Devices inactive (dead token, or deactivated) this long are deleted (a "prune").
    inactive_devices_retention_days: float | None = Field(default=90.0, gt=0)
    # Dead-lettered jobs are kept for inspection (`pushgate jobs failed`) this long.
    failed_jobs_retention_days: float | None = Field(default=14.0, gt=0)

    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Admin web UI at /admin (docs/admin.md): session lifetime, and the lock-out after
    # repeated wrong passwords (that many in a row lock the account for admin_lockout_minutes).
    admin_ui: bool = True
    admin_session_hours: float = Field(default=12.0, gt=0)
    admin_max_failed_logins: int = Field(default=5, ge=1)
    admin_lockout_minutes: float = Field(default=15.0, gt=0)
    # The Pushpad-compatible REST API (docs/pushpad.md) is served under this path; None: off.
    pushpad_api_prefix: str | None = Field(default="/pushpad/api/v1", pattern=r"^/[A-Za-z0-9/_.-]*$")
    # Web SDK: the URL browsers reach this server at (behind a proxy, https://push.example.com);
    # the SDK and the service worker it serves call it. Unset: the URL of each request.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+(/[^?#]*)?$")
    # Pushkin-compatible routes (docs/pushkin.md) are served under this prefix; "" serves
    # them at the root, where Pushkin's clients post (/post_notification_json ...).
    pushkin_prefix: str = Field(default="", pattern=r"^(/[A-Za-z0-9._~-]+)*$")
    # Dry run: everything but the provider call. Deliveries are recorded "sent" with
    # reason "DryRun" and no provider is contacted (pushgate.workers.dry_run).
    dry_run: bool = False
    # Per provider, the deliveries that may wait in its lanes: while a provider has that
    # many, a send that would reach it is refused with 503 and Retry-After
    # (pushgate.service.provider_limits). Unset: only max_queue_depth applies.
    max_provider_queue_depth: dict[ProviderName, PositiveInt] = Field(default_factory=dict)
    # The Redis Streams queue (queue = "redis"): where Redis is, e.g. redis://redis:6379/0
    # (a secret: it may carry a password), and the prefix of every key the queue writes.
    redis_url: SecretStr | None = None
    redis_key_prefix: str = Field(default="pushgate:", min_length=1)
    # Delivery webhooks (docs/webhooks.md). The SSRF rules refuse loopback, private, link-local
    # and metadata addresses; these hosts ("hooks.internal") or networks ("10.0.0.0/8", "::1")
    # are allowed anyway (tests, private deployments).
    webhook_allow_hosts: list[str] = Field(default_factory=list)
    webhook_ca_file: str | None = None  # trust this CA for webhook endpoints instead of the system store
    webhook_batch_size: int = Field(default=100, ge=1, le=1000)  # events per POST
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Failed deliveries are tried again after base x 2^(n-1) seconds (half of it jitter), at most
    # the max; after webhook_max_failures in a row (about a day with the defaults) the webhook
    # is disabled with the reason shown on GET /v1/webhooks.
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=1800.0, gt=0)
    webhook_max_failures: int = Field(default=50, ge=1)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)  # how often workers look for events to deliver

    @model_validator(mode="after")
    def _redis_needs_its_url(self) -> Settings:
        if self.queue == "redis" and self.redis_url is None:
            raise _SettingError("queue", '"redis" needs redis_url: set PUSHGATE_REDIS_URL=redis://host:6379/0')
        return self

    @field_validator("database_url")
    @classmethod
    def _a_database_url(cls, value: str) -> str:
        problem = database_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("previous_secret_keys", mode="before")
    @classmethod
    def _one_previous_key(cls, value: Any) -> Any:
        # PUSHGATE_PREVIOUS_SECRET_KEYS=<key> (not a JSON list) is the one previous key.
        return [value] if isinstance(value, str) else value

    @field_validator(
        "deliveries_retention_days", "inactive_devices_retention_days", "failed_jobs_retention_days",
        "max_credentials_wait", mode="before",
    )
    @classmethod
    def _off_keeps_forever(cls, value: Any) -> Any:
        # PUSHGATE_DELIVERIES_RETENTION_DAYS=off: the environment has no null.
        return None if isinstance(value, str) and value.strip().lower() in _OFF else value

    @field_validator("secret_key", "previous_secret_keys")
    @classmethod
    def _long_enough(cls, value: SecretStr | list[SecretStr] | None) -> Any:
        keys = value if isinstance(value, list) else [value]
        if any(key is not None and len(key.get_secret_value()) < SECRET_KEY_MIN_LENGTH for key in keys):
            raise ValueError(f"must be at least {SECRET_KEY_MIN_LENGTH} characters")
        return value

    @classmethod
    def load(
        cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Read the TOML file (if any) and the environment; raise ConfigurationError."""
        environ = os.environ if environ is None else environ
        path = path or environ.get(CONFIG_ENV)
        data: dict[str, Any] = {}
        if path:
            import tomllib  # only with a settings file: a server set up by its environment never parses TOML

            try:
                data = tomllib.loads(Path(path).read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigurationError(f"cannot read config file {path}: {exc}") from exc
        from_environment: dict[tuple[str, ...], str] = {}  # where a setting came from, for errors
        for key, value in environ.items():
            if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
                continue
            parts = key[len(ENV_PREFIX):].lower().split("__")
            from_environment[tuple(parts)] = key
            target = data
            for part in parts[:-1]:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ConfigurationError(f"{key}: {part} is not a section")
            target[parts[-1]] = _env_value(value)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            # Only the problems: the exception's type says it is the configuration, and the
            # command line adds its own "configuration error: " (once) to every ConfigurationError.
            problems = "; ".join(_problem(err, from_environment) for err in exc.errors())
            raise ConfigurationError(problems) from None

    def redacted(self) -> dict[str, Any]:
        """The settings as shown to people: secrets and passwords masked."""
        shown = self.model_dump(mode="json")
        if self.admin_token is not None:
            shown["admin_token"] = "***"
        if self.secret_key is not None:
            shown["secret_key"] = "***"
        shown["previous_secret_keys"] = ["***" for _ in self.previous_secret_keys]
        shown["database_url"] = _mask_password(shown["database_url"])
        return shown


_OFF = frozenset({"off", "never", "none", "null"})
_URL_SCHEME = re.compile(r"^[\w+]+://")  # what SQLAlchemy's make_url requires before anything else


def database_url_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a database URL, or None when it has a scheme.

    A bare path ("pushgate.db") would otherwise reach SQLAlchemy, whose "Could not parse
    SQLAlchemy URL" says neither what was wrong nor what to write instead. Shared by the
    ``database_url`` setting and :class:`~pushgate.registry.Database`, so both say the same.
    """
    if _URL_SCHEME.match(value):
        return None
    if "@" in value:  # user:password@host/name: not repeated, it may hold a password
        return "not a database URL: write postgresql+psycopg://user:password@host/name"
    return f"{value!r} is not a database URL: for a SQLite file write sqlite:///{value}"


class _SettingError(ValueError):
    """A check across settings, reported at the setting it concerns: pydantic places a
    model validator's error at no field, which read as ": Value error, ..."."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.message = message


# pydantic's words for a number out of range, and ours.
_BOUNDS = {
    "less_than_equal": "must be at most {le}", "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}", "greater_than": "must be more than {gt}",
}


def describe_error(err: Mapping[str, Any]) -> str:
    """What is wrong with one value (a pydantic error), without the setting's name: a range
    as "must be at most 65535", a validator's own words without pydantic's "Value error, "."""
    context = err.get("ctx") or {}
    if err["type"] in _BOUNDS:
        return _BOUNDS[err["type"]].format(**context)
    if err["type"] == "value_error" and "error" in context:
        error = context["error"]
        return error.message if isinstance(error, _SettingError) else str(error)
    return str(err["msg"])


def _env_value(raw: str) -> Any:
    """Environment values are strings; a value starting with "[" is read as a JSON list."""
    stripped = raw.strip()
    if stripped.startswith("["):
        import json

        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return raw


def _mask_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def _problem(err: Mapping[str, Any], from_environment: Mapping[tuple[str, ...], str]) -> str:
    """One validation error as ``path: what is wrong``; an unknown setting also names the
    variable it came from and the setting probably meant."""
    location = tuple(str(part) for part in err["loc"])
    error = (err.get("ctx") or {}).get("error")
    where = error.setting if isinstance(error, _SettingError) else ".".join(location)
    variable = from_environment.get(location)
    if err["type"] == "list_type" and variable and isinstance(err["input"], str):
        # PUSHGATE_..._ALLOWED_HOSTS=a.example: the environment has no lists but JSON's (_env_value)
        import json

        items = [item.strip() for item in err["input"].strip().strip("[]").split(",") if item.strip()]
        return f"{where}: {variable} takes a JSON list, e.g. {variable}='{json.dumps(items)}'"
    if err["type"] != "extra_forbidden":
        return f"{where}: {describe_error(err)}"
    origin = f" ({variable})" if variable else ""
    return f"{where}: unknown setting{origin}{did_you_mean(location[-1], fields_at(Settings, location))}"
