"""Settings for every MSaaS process, read once from the environment at start-up."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

import limits

from msaas.errors import ConfigError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_S3_ENDPOINT = "127.0.0.1:9000"
DEFAULT_QUEUE_BUCKET = "queue"
DEFAULT_OUTPUT_BUCKET = "output"
DEFAULT_MAX_UPLOAD_MB = 100
DEFAULT_MAX_DURATION_S = 1200
DEFAULT_JOB_TTL_S = 7 * 24 * 3600
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_HEARTBEAT_TTL_S = 30
DEFAULT_STORE_RETRY_S = 30
DEFAULT_MP3_BITRATE_KBPS = 320
DEFAULT_CALLBACK_TIMEOUT_S = 10
DEFAULT_DEMUCS_MODEL = "htdemucs"
DEFAULT_METRICS_PORT = 9100
# Songs and stems are removed this long after they were written; as long as a job record.
DEFAULT_RETENTION_S = DEFAULT_JOB_TTL_S
DEFAULT_CALLBACK_ATTEMPTS = 3


@dataclass(frozen=True)
class Settings:
    """Every setting, with the environment variable that sets it in `ENV_NAMES`."""

    redis_url: str = DEFAULT_REDIS_URL
    s3_endpoint: str = DEFAULT_S3_ENDPOINT
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_secure: bool = False
    s3_region: str = ""
    queue_bucket: str = DEFAULT_QUEUE_BUCKET
    output_bucket: str = DEFAULT_OUTPUT_BUCKET
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    max_duration_s: int = DEFAULT_MAX_DURATION_S
    job_ttl_s: int = DEFAULT_JOB_TTL_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    heartbeat_ttl_s: int = DEFAULT_HEARTBEAT_TTL_S
    store_retry_s: int = DEFAULT_STORE_RETRY_S
    mp3_bitrate_kbps: int = DEFAULT_MP3_BITRATE_KBPS
    callback_timeout_s: int = DEFAULT_CALLBACK_TIMEOUT_S
    demucs_model: str = DEFAULT_DEMUCS_MODEL
    demucs_repo: str = ""
    demucs_device: str = ""
    # More model names clients may ask for, comma-separated; workers load them on first use.
    extra_models: str = ""
    metrics_port: int = DEFAULT_METRICS_PORT
    # 0 keeps songs and stems until they are removed through the API.
    retention_s: int = DEFAULT_RETENTION_S
    # API keys, comma-separated; when set, every /apiv1 call needs one as a Bearer token.
    api_keys: str = ""
    # Requests allowed per API key (or client address without one), e.g. "60/minute"; empty: off.
    rate_limit: str = ""
    # The HMAC-SHA256 key that signs callbacks; empty: callbacks go unsigned.
    callback_secret: str = ""
    # Hosts, addresses or networks (CIDR) callbacks may reach although they are not public.
    callback_allow_hosts: str = ""
    callback_attempts: int = DEFAULT_CALLBACK_ATTEMPTS

    @property
    def max_upload_bytes(self) -> int:
        """The largest accepted audio file, in bytes."""
        return self.max_upload_mb * 1024 * 1024

    @property
    def models(self) -> tuple[str, ...]:
        """The model names clients may ask for; the first is the default."""
        extra = [name.strip() for name in self.extra_models.split(",") if name.strip()]
        return tuple(dict.fromkeys([self.demucs_model, *extra]))

    @property
    def api_key_list(self) -> tuple[str, ...]:
        """The configured API keys; empty when the API is open."""
        return _split(self.api_keys)

    @property
    def callback_allow_list(self) -> tuple[str, ...]:
        """The hosts and networks callbacks may reach although they are not public."""
        return _split(self.callback_allow_hosts)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build the settings from `environ` (default `os.environ`); unset names keep defaults.

        Raises:
            ConfigError: a variable holds a value of the wrong kind; the message names it.
        """
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            name = ENV_NAMES[field.name]
            raw = environ.get(name)
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(name, raw, field.default)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse values that would only fail later, far from their cause."""
        for name in (
            "max_upload_mb",
            "max_duration_s",
            "job_ttl_s",
            "max_attempts",
            "heartbeat_ttl_s",
            "mp3_bitrate_kbps",
            "callback_timeout_s",
            "callback_attempts",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{ENV_NAMES[name]} must be a positive number")
        for name in ("store_retry_s", "metrics_port", "retention_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{ENV_NAMES[name]} must not be negative")
        if self.rate_limit:
            try:
                limits.parse_many(self.rate_limit)
            except ValueError:
                raise ConfigError(
                    f"RATE_LIMIT must read like 60/minute or 10/second;100/hour, "
                    f"not {self.rate_limit!r}"
                ) from None


ENV_NAMES = {field.name: field.name.upper() for field in fields(Settings)}


def _split(text: str) -> tuple[str, ...]:
    """The non-empty, stripped items of a comma-separated setting."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _parse(name: str, raw: str, default: object) -> object:
    """Convert `raw` to the type of `default`, or raise ConfigError naming `name`."""
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    return raw
