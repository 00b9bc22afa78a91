"""Typed settings: one object, read from ``MBF_*`` environment variables and ``.env``.

Secrets can also come from files (``MBF_SECRET_KEY_FILE``, ``MBF_DATABASE_URL_FILE``,
``MBF_REDIS_URL_FILE``) so container orchestrators can mount them. Invalid settings
stop start-up with one message that lists every bad field (:class:`ConfigError`).
"""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

NetworkName = Literal["mainnet", "testnet", "signet", "regtest"]
NETWORKS: tuple[NetworkName, ...] = ("mainnet", "testnet", "signet", "regtest")

# Well-known public Esplora servers; a start-up warning says that they learn the wallet's addresses.
PUBLIC_ESPLORA: dict[str, str] = {
    "mainnet": "https://blockstream.info/api",
    "testnet": "https://blockstream.info/testnet/api",
    "signet": "https://mempool.space/signet/api",
}

# Fields that may be given as ``MBF_<NAME>_FILE`` (a path whose content is the value).
FILE_BACKED = ("secret_key", "database_url", "redis_url")


class ConfigError(Exception):
    """Raised with a human-readable list of every invalid setting."""


class _FileSecretsSource(PydanticBaseSettingsSource):
    """Reads ``MBF_<FIELD>_FILE`` for the file-backed secret fields."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in FILE_BACKED:
            path = os.environ.get(f"MBF_{name.upper()}_FILE")
            if path:
                try:
                    values[name] = Path(path).read_text().strip()
                except OSError as exc:
                    raise ConfigError(f"MBF_{name.upper()}_FILE: cannot read {path}: {exc.strerror}") from exc
        return values


class Settings(BaseSettings):
    """Every knob of the server. Defaults are the embedded, offline set-up."""

    model_config = SettingsConfigDict(env_prefix="MBF_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("./data")
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    old_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="retired keys, still used to decrypt"
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    # GraphQL surface and query safety.
    graphiql: bool | None = None
    introspection: bool | None = None
    legacy_graphql_ws: bool = False
    max_query_depth: int = Field(12, ge=1, le=100)
    max_query_tokens: int = Field(4000, ge=100)
    max_aliases: int = Field(30, ge=1)
    max_query_cost: int = Field(20_000, ge=100, description="cost budget per operation (docs/security.md)")
    max_body_bytes: int = Field(1_000_000, ge=1024)
    persisted_queries: Literal["auto", "only"] = Field(
        "auto", description="auto: Apollo APQ registers any document; only: run allow-listed documents only"
    )
    persisted_queries_file: Path | None = Field(None, description="allow-list (Apollo manifest); default in data dir")
    document_cache_size: int = Field(1000, ge=0, description="parsed and validated documents kept per process")
    response_cache_ttl_s: float = Field(
        60.0, ge=0, description="a cached query answer lives at most this long (events invalidate it at once; 0: off)"
    )
    response_cache_size: int = Field(2000, ge=0, description="cached query answers kept per process")
    body_read_timeout_s: float = Field(30.0, gt=0, description="idle time between body chunks before 408")
    header_read_timeout_s: float = Field(
        10.0, gt=0, description="a request's line and headers must arrive within this, else the connection is closed"
    )
    keepalive_timeout_s: float = Field(5.0, gt=0, description="idle keep-alive connections are closed after this")
    forwarded_allow_ips: list[str] = Field(
        default_factory=list, description="proxies whose X-Forwarded-For/-Proto are trusted; none by default"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="browser origins (scheme://host[:port]) allowed to call the API"
    )
    cors_max_age_s: int = Field(600, ge=0, le=86_400, description="how long browsers may cache a CORS preflight")

    # Accounts.
    allow_registration: bool = True
    registration: Literal["open", "invitation", "closed"] = "open"  # invitation: admins create codes
    token_ttl_hours: int = Field(24 * 14, ge=1)
    session_cache_ttl_s: float | None = Field(
        None,
        ge=0,
        description="token → user kept in memory at most this long (revocations drop it at once); "
        "default 30 with MBF_REDIS_URL, off without (docs/performance.md)",
    )
    password_min_length: int = Field(12, ge=8)
    login_free_attempts: int = Field(5, ge=1, description="failed logins per key before backoff starts")
    login_backoff_base_s: float = Field(1.0, gt=0)
    login_backoff_cap_s: float = Field(900.0, gt=0)
    login_backoff_forget_s: float = Field(3600.0, gt=0)
    registrations_per_client: int = Field(10, ge=1, description="registrations per client before backoff")
    throttle_redis_prefix: str = "mbf:throttle"

    # WebSocket subscriptions.
    ws_init_timeout_s: float = Field(10.0, gt=0)
    ws_keepalive_s: float = Field(15.0, gt=0)
    ws_close_timeout_s: float = Field(
        10.0, gt=0, description="a socket whose close frame cannot be written within this is aborted"
    )
    ws_max_connections_per_user: int = Field(20, ge=1)
    ws_max_anonymous_per_ip: int = Field(20, ge=1, description="not (yet) signed-in sockets per client address")
    ws_max_anonymous_total: int = Field(1000, ge=1, description="not (yet) signed-in sockets in this process")
    ws_max_subscriptions_per_connection: int = Field(100, ge=1)
    ws_max_message_bytes: int = Field(64 * 1024, ge=1024)
    subscriber_queue_size: int = Field(256, ge=1)
    event_retention_count: int = Field(10_000, ge=10)
    event_retention_hours: int = Field(72, ge=1)

    # Chain backends.
    chain_backend: Literal["esplora", "electrum", "core"] = "esplora"
    esplora_url: str | None = None
    electrum_url: str | None = None
    mainnet_esplora_url: str | None = None
    testnet_esplora_url: str | None = None
    signet_esplora_url: str | None = None
    regtest_esplora_url: str | None = None
    mainnet_electrum_url: str | None = None
    testnet_electrum_url: str | None = None
    signet_electrum_url: str | None = None
    regtest_electrum_url: str | None = None
    electrum_tls_cert: str | None = Field(None, description="path or PEM of a self-signed Electrum TLS cert to trust")
    # Bitcoin Core (MBF_CHAIN_BACKEND=core; docs/core.md).
    core_rpc_url: str | None = Field(None, description="http://host:8332 of bitcoind's JSON-RPC")
    core_rpc_cookie_file: Path | None = Field(None, description="bitcoind's .cookie (re-read when it changes)")
    core_rpc_user: str | None = None
    core_rpc_password: SecretStr | None = None
    core_rpc_password_file: Path | None = None
    core_wallet_prefix: str = Field("mbf-", description="Core wallet name = prefix + wallet id")
    core_rescan_since: date | None = Field(
        None,
        description="Core rescans imported wallets from this date (default: the first block); needed on pruned nodes",
    )
    core_zmq_hashblock: str | None = Field(None, description="zmqpubhashblock address, e.g. tcp://node:28332")
    core_zmq_rawtx: str | None = Field(None, description="zmqpubrawtx address, e.g. tcp://node:28333")
    core_poll_s: float = Field(5.0, gt=0, description="getbestblockhash polling when ZMQ is not configured")
    chain_timeout_s: float = Field(15.0, gt=0)
    chain_retries: int = Field(3, ge=0, le=10)
    chain_concurrency: int = Field(16, ge=1, le=256)
    sync_interval_s: float = Field(300.0, ge=1)
    tip_poll_interval_s: float = Field(
        10.0, gt=0, description="servers that cannot push (Esplora): tip and mempool checked this often, per server"
    )
    default_gap_limit: int = Field(20, ge=1, le=1000)
    # Spending (docs/spending.md): output order of new PSBTs, how long fee estimates are cached.
    spend_output_order: Literal["random", "bip69"] = "random"
    fee_cache_s: float = Field(30.0, ge=1)

    # Prices and analytics.
    price_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["coinbase", "kraken", "coingecko", "bitstamp"]
    )
    price_poll_interval_s: float = Field(60.0, ge=1)
    price_poll_enabled: bool = True
    price_timeout_s: float = Field(10.0, gt=0)
    coingecko_url: str = "https://api.coingecko.com/api/v3"
    kraken_url: str = "https://api.kraken.com/0/public"
    coinbase_url: str = "https://api.exchange.coinbase.com"
    bitstamp_url: str = "https://www.bitstamp.net/api/v2"
    coingecko_api_key: SecretStr | None = None  # demo key (api.) or pro key (pro-api.coingecko.com)
    risk_free_rate: Decimal = Decimal("0")
    # a day without a close is estimated only inside a gap shorter than this; else its figures are null
    price_max_gap_days: int = Field(7, ge=0, le=100_000)

    # Lightning.
    lnd_timeout_s: float = Field(10.0, gt=0)
    lightning_allowed_hosts: list[str] = Field(
        default_factory=list, description="private/loopback hosts or CIDRs users may connect LND nodes at"
    )
    lnd_stream_min_backoff_s: float = Field(0.5, gt=0, description="first wait before reopening an LND stream")
    lnd_stream_max_backoff_s: float = Field(30.0, gt=0, description="longest wait between reopen attempts")

    # Operations (docs/operations.md).
    metrics_port: int | None = Field(None, ge=1, le=65535, description="serve /metrics on this port instead")
    metrics_host: str | None = Field(None, description="bind address of the metrics port (default: MBF_HOST)")
    metrics_token: SecretStr | None = Field(None, description="bearer token /metrics requires")
    db_slow_statement_ms: float = Field(250.0, gt=0, description="SQL statements slower than this are counted")
    trace_resolver_min_ms: float = Field(10.0, ge=0, description="resolvers at least this slow get a trace span")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSecretsSource(settings_cls), dotenv_settings)

    @field_validator("old_secret_keys", "cors_origins", "price_providers", mode="before")
    @classmethod
    def _plain_list(cls, v: Any) -> Any:
        """Lists from the environment: a JSON array, or a plain comma-separated string."""
        return parse_list(v)

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, v: list[str]) -> list[str]:
        """Exact origins only: a browser sends ``scheme://host[:port]``, nothing else ever matches."""
        bad = [o for o in v if not _is_origin(o)]
        if bad:
            raise ValueError(
                f"not an origin: {', '.join(repr(o) for o in bad)} (give scheme://host[:port], "
                "e.g. http://localhost:5173, without path or trailing slash; * is not accepted)"
            )
        return [o.lower() for o in v]

    @field_validator("env", "log_level", "log_format", "chain_backend", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            raw = v.get_secret_value()
            if not raw.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
                raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return v

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @field_validator(
        "electrum_url", "mainnet_electrum_url", "testnet_electrum_url", "signet_electrum_url", "regtest_electrum_url"
    )
    @classmethod
    def _check_electrum_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("tcp://", "ssl://")):
            raise ValueError("must be tcp://host:port or ssl://host:port")
        return v

    @field_validator("core_rpc_url")
    @classmethod
    def _check_core_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:8332")
        return v.rstrip("/") if v else v

    @field_validator("core_zmq_hashblock", "core_zmq_rawtx")
    @classmethod
    def _check_zmq(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("tcp://", "ipc://")):
            raise ValueError("must be a ZMQ address such as tcp://127.0.0.1:28332")
        return v

    @field_validator(
        "esplora_url", "mainnet_esplora_url", "testnet_esplora_url", "signet_esplora_url", "regtest_esplora_url"
    )
    @classmethod
    def _check_esplora_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/") if v else v

    # Derived values -------------------------------------------------------------

    @property
    def effective_session_cache_ttl_s(self) -> float:
        """Without Redis another process (``mbf user reset-2fa``) cannot tell this one about a
        revocation, so sessions are cached only when asked for explicitly."""
        if self.session_cache_ttl_s is not None:
            return self.session_cache_ttl_s
        return 30.0 if self.effective_redis_url else 0.0

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production

    @property
    def effective_log_format(self) -> str:
        if self.log_format != "auto":
            return self.log_format
        return "json" if self.is_production else "console"

    @property
    def effective_persisted_queries_file(self) -> Path:
        return self.persisted_queries_file or self.data_dir / "persisted-queries.json"

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'mbf.sqlite3').resolve()}"

    @property
    def effective_redis_url(self) -> str | None:
        return self.redis_url.get_secret_value() if self.redis_url else None

    def esplora_url_for(self, network: str) -> str | None:
        """Per-network URL first, then the general one, then a public default (not for regtest)."""
        specific = getattr(self, f"{network}_esplora_url", None)
        return specific or self.esplora_url or PUBLIC_ESPLORA.get(network)

    def electrum_url_for(self, network: str) -> str | None:
        return getattr(self, f"{network}_electrum_url", None) or self.electrum_url

    def redacted(self) -> dict[str, Any]:
        """The effective configuration with every secret replaced, for ``mbf config show``."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "**********"
            elif isinstance(value, list) and value and isinstance(value[0], SecretStr):
                value = ["**********"] * len(value)
            elif isinstance(value, Path | Decimal):
                value = str(value)
            out[name] = value
        out["effective_database_url"] = _redact_url(self.effective_database_url)
        return out


def _redact_url(url: str) -> str:
    """Hide a password in ``scheme://user:pass@host`` URLs."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def _is_origin(value: str) -> bool:
    """``http(s)://host[:port]`` exactly as a browser's ``Origin`` header spells it."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        return False
    if parts.username or parts.password or value != f"{parts.scheme}://{parts.netloc}":
        return False
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return True


def parse_list(v: Any) -> Any:
    """``'["a", "b"]'`` or ``"a, b"`` or ``"a"`` → ``["a", "b"]``; empty items dropped."""
    if not isinstance(v, str):
        return v
    text = v.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list ({exc.msg}); or give a comma-separated list") from None
    return [item.strip() for item in text.split(",") if item.strip()]


def load_settings(**overrides: Any) -> Settings:
    """Build settings or raise :class:`ConfigError` listing every bad field and why."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            env_name = f"MBF_{loc.upper()}" if err["loc"] else loc
            lines.append(f"  {env_name}: {err['msg']}")
        raise ConfigError("Invalid configuration:\n" + "\n".join(lines)) from None
    except SettingsError as exc:  # a value the settings sources could not decode at all
        raise ConfigError(f"Invalid configuration:\n  {' '.join(str(exc).split())}") from None
