"""The object store: uploaded songs in the queue bucket, stems in the output bucket."""

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from msaas.config import Settings
from msaas.errors import NotFound, Unavailable

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 60
# One quick retry for a dropped connection; longer outages are the caller's to retry.
STORE_RETRIES = 1
STREAM_CHUNK_BYTES = 256 * 1024
_MISSING = ("NoSuchKey", "NoSuchObject")

# Errors that mean the store did not answer, as opposed to answering "no".
STORE_DOWN_ERRORS = (urllib3.exceptions.HTTPError, OSError, ServerError, InvalidResponseError)


def song_object(job_id: str) -> str:
    """The name of a job's uploaded song in the queue bucket."""
    return f"{job_id}/song"


def stem_object(job_id: str, stem: str, extension: str = "mp3") -> str:
    """The name of one stem of a job in the output bucket."""
    return f"{job_id}/{stem}.{extension}"


@dataclass
class StoredObject:
    """An object opened for reading: its size and type, and a stream of its bytes."""

    size: int
    content_type: str
    chunks: Iterator[bytes]


class Storage:
    """The two buckets MSaaS uses, behind calls that speak of jobs and stems."""

    def __init__(self, client: Minio, queue_bucket: str, output_bucket: str):
        self.client = client
        self.queue_bucket = queue_bucket
        self.output_bucket = output_bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> "Storage":
        """Connect (lazily) to the store the settings name."""
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
            retries=urllib3.Retry(
                total=STORE_RETRIES, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
            ),
            maxsize=16,
        )
        client = Minio(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region or None,
            http_client=http,
        )
        return cls(client, settings.queue_bucket, settings.output_bucket)

    def ensure_buckets(self) -> None:
        """Create the queue and output buckets if they do not exist yet."""
        with _store_errors():
            for bucket in (self.queue_bucket, self.output_bucket):
                if not self.client.bucket_exists(bucket_name=bucket):
                    self._make_bucket(bucket)

    def ping(self) -> None:
        """Raise Unavailable unless the store answers and both buckets exist."""
        with _store_errors():
            for bucket in (self.queue_bucket, self.output_bucket):
                if not self.client.bucket_exists(bucket_name=bucket):
                    raise Unavailable(f"the object store has no bucket {bucket!r}")

    def put_song(self, job_id: str, data: bytes) -> None:
        """Store an uploaded song."""
        with _store_errors():
            self.client.put_object(
                bucket_name=self.queue_bucket,
                object_name=song_object(job_id),
                data=io.BytesIO(data),
                length=len(data),
                content_type="application/octet-stream",
            )

    def fetch_song(self, job_id: str, path: str) -> None:
        """Download a job's song into the file at `path`."""
        with _store_errors():
            self.client.fget_object(
                bucket_name=self.queue_bucket, object_name=song_object(job_id), file_path=path
            )

    def delete_song(self, job_id: str) -> None:
        """Remove a job's song; removing one that is gone already is fine."""
        with _store_errors():
            self.client.remove_object(
                bucket_name=self.queue_bucket, object_name=song_object(job_id)
            )

    def put_stem(
        self,
        job_id: str,
        stem: str,
        path: str,
        content_type: str = "audio/mpeg",
        extension: str = "mp3",
    ) -> None:
        """Upload one stem from the file at `path`, streaming it in parts."""
        with _store_errors():
            self.client.fput_object(
                bucket_name=self.output_bucket,
                object_name=stem_object(job_id, stem, extension),
                file_path=path,
                content_type=content_type,
            )

    def open_stem(self, job_id: str, stem: str, extension: str = "mp3") -> StoredObject:
        """Open a stem for streaming. Raises NotFound when there is no such stem."""
        name = stem_object(job_id, stem, extension)
        with _store_errors():
            stat = self.client.stat_object(bucket_name=self.output_bucket, object_name=name)
            response = self.client.get_object(bucket_name=self.output_bucket, object_name=name)
        return StoredObject(
            stat.size, stat.content_type or "application/octet-stream", _stream(response)
        )

    def delete_stem(self, job_id: str, stem: str, extension: str = "mp3") -> None:
        """Remove one stem. Raises NotFound when it does not exist."""
        name = stem_object(job_id, stem, extension)
        with _store_errors():
            self.client.stat_object(bucket_name=self.output_bucket, object_name=name)
            self.client.remove_object(bucket_name=self.output_bucket, object_name=name)

    def jobs_stored_before(self, cutoff: datetime) -> set[str]:
        """The ids of jobs with a song or stem last written before `cutoff` (aware, UTC)."""
        expired = set()
        with _store_errors():
            for bucket in (self.queue_bucket, self.output_bucket):
                for item in self.client.list_objects(bucket_name=bucket, recursive=True):
                    if item.last_modified is not None and item.last_modified < cutoff:
                        expired.add(item.object_name.split("/", 1)[0])
        return expired

    def delete_job_objects(self, job_id: str) -> None:
        """Remove a job's song and every stem of it."""
        with _store_errors():
            for bucket in (self.queue_bucket, self.output_bucket):
                listed = self.client.list_objects(bucket_name=bucket, prefix=f"{job_id}/")
                for item in listed:
                    self.client.remove_object(bucket_name=bucket, object_name=item.object_name)

    def _make_bucket(self, bucket: str) -> None:
        try:
            self.client.make_bucket(bucket_name=bucket)
        except S3Error as error:
            # Another process created it between our check and our call.
            if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


def _stream(response) -> Iterator[bytes]:
    """Yield a response's body in chunks, then hand its connection back to the pool."""
    try:
        yield from response.stream(STREAM_CHUNK_BYTES)
    finally:
        response.close()
        response.release_conn()


@contextmanager
def _store_errors() -> Iterator[None]:
    """Turn the client's errors into NotFound (a missing object) or Unavailable (no answer)."""
    try:
        yield
    except S3Error as error:
        if error.code in _MISSING:
            raise NotFound(f"no such object ({error.code})") from error
        if error.code == "NoSuchBucket":
            # Buckets are made at deploy time or by the first worker; until then, not ready.
            raise Unavailable(f"the object store has no bucket {error.bucket_name!r}") from error
        raise
    except STORE_DOWN_ERRORS as error:
        raise Unavailable(f"the object store does not answer ({type(error).__name__})") from error
