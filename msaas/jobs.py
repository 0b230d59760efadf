"""Job records: one Redis hash per job, with a TTL, read and written only here."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone

import redis

from msaas import keys

QUEUED = "queued"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"

# The four stems every Demucs 4-source model writes, in the order clients list them.
STEMS = ("bass", "drums", "vocals", "other")

_JSON_FIELDS = ("tracks", "removed", "callback", "options", "timings")
_INT_FIELDS = ("progress", "attempts")
_FLOAT_FIELDS = ("duration_s",)


@dataclass
class Job:
    """What MSaaS knows of one separation job."""

    id: str
    state: str = QUEUED
    model: str = ""
    options: dict = field(default_factory=dict)
    progress: int = 0
    tracks: list = field(default_factory=list)
    # Tracks a client removed; a song sent again while any are missing is separated again.
    removed: list = field(default_factory=list)
    reason: str = ""
    attempts: int = 0
    duration_s: float = 0.0
    callback: dict = field(default_factory=dict)
    callback_error: str = ""
    # The fingerprint of the API key that created the job; "" on an open API.
    owner: str = ""
    created_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    # Seconds per phase of the last attempt (worker.timings.PHASES), written when it succeeds.
    timings: dict = field(default_factory=dict)

    @classmethod
    def from_redis(cls, raw: Mapping[bytes, bytes]) -> "Job":
        """Rebuild a job from the hash Redis returns; unknown fields are ignored."""
        known = {f.name for f in fields(cls)}
        values = {}
        for key, value in raw.items():
            name, text = key.decode(), value.decode()
            if name not in known:
                continue
            if name in _JSON_FIELDS:
                values[name] = json.loads(text)
            elif name in _INT_FIELDS:
                values[name] = int(text)
            elif name in _FLOAT_FIELDS:
                values[name] = float(text)
            else:
                values[name] = text
        return cls(**values)

    def to_redis(self) -> dict[str, str]:
        """The job as flat string fields for HSET."""
        return encode_fields(asdict(self))

    def public(self) -> dict:
        """The job as the API shows it: no callback target, which may hold a secret."""
        shown = asdict(self)
        del shown["callback"]
        del shown["owner"]
        return shown


def encode_fields(values: Mapping[str, object]) -> dict[str, str]:
    """Encode job fields for HSET: JSON for structures, text for the rest."""
    encoded = {}
    for name, value in values.items():
        encoded[name] = json.dumps(value) if name in _JSON_FIELDS else str(value)
    return encoded


def compute_job_id(audio: bytes, options: Mapping[str, object], owner: str = "") -> str:
    """The id of a job: a hash of the song's bytes, its output options and its owner.

    The owner ("" on an open API) keeps apart the jobs of two API keys that send one song.
    """
    digest = hashlib.sha256(hashlib.sha256(audio).digest())
    digest.update(json.dumps(dict(options), sort_keys=True).encode())
    if owner:
        digest.update(b"\0owner:" + owner.encode())
    return digest.hexdigest()


def is_job_id(text: str) -> bool:
    """Whether `text` has the shape of an id `compute_job_id` makes."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def now() -> str:
    """The current time as ISO 8601 in UTC, as job timestamps are written."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def owners(client: redis.Redis, job_ids: list[str]) -> list[str]:
    """The owner of each job, in order ("" for none or a missing record)."""
    pipe = client.pipeline()
    for job_id in job_ids:
        pipe.hget(keys.job(job_id), "owner")
    return [(raw or b"").decode() for raw in pipe.execute()]


def load_job(client: redis.Redis, job_id: str) -> Job | None:
    """The job record, or None when there is none (never made, or expired)."""
    raw = client.hgetall(keys.job(job_id))
    return Job.from_redis(raw) if raw else None


def update_job(client: redis.Redis, job_id: str, ttl_s: int, **values: object) -> None:
    """Set some fields of a job and restart its time to live."""
    pipe = client.pipeline()
    pipe.hset(keys.job(job_id), mapping=encode_fields(values))
    pipe.expire(keys.job(job_id), ttl_s)
    pipe.execute()


def count_attempt(client: redis.Redis, job_id: str) -> int:
    """Add one to a job's attempts and return the new count."""
    return client.hincrby(keys.job(job_id), "attempts", 1)


def delete_job(client: redis.Redis, job_id: str) -> None:
    """Forget a job's record."""
    client.delete(keys.job(job_id))
