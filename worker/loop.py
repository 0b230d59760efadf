"""The worker: take a job from the queue, separate its song, store the stems, report.

Only this module joins the queue, the object store and the model. A failed job never stops
the worker: its reason is recorded and the job is retried until its attempts are used up.
"""

import logging
import os
import socket
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
from demucs.api import Separator
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from msaas import audio, jobs, queue
from msaas.callbacks import CallbackPolicy
from msaas.config import Settings
from msaas.errors import Unavailable
from msaas.storage import Storage
from worker import separation
from worker.callback import send_callback
from worker.stems import write_mp3

logger = logging.getLogger(__name__)

# How long one wait on the queue blocks before the worker looks at its stop flag again.
CLAIM_TIMEOUT_S = 2.0
# A cap on the store retry back-off, so that a returning store is noticed soon.
STORE_RETRY_MAX_WAIT_S = 8


class ColdStop(BaseException):
    """Raised in the main thread by a second SIGTERM: give the job back and exit now.

    A BaseException, so that the per-job error handling does not record it as a failure.
    """


class Worker:
    """One worker process: a model kept warm, and a loop over the queue."""

    def __init__(
        self, settings: Settings, redis_client: redis.Redis, storage: Storage, separator: Separator
    ):
        self.settings = settings
        self.redis = redis_client
        self.storage = storage
        self.device = separation.pick_device(settings.demucs_device)
        self.separators = {settings.demucs_model: separator}
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self.current_job: str | None = None
        self.callback_policy = CallbackPolicy(settings.callback_allow_list)
        self._store_call = retry(
            retry=retry_if_exception_type(Unavailable),
            wait=wait_exponential(multiplier=0.5, max=STORE_RETRY_MAX_WAIT_S),
            stop=stop_after_delay(settings.store_retry_s),
            reraise=True,
        )

    def run(self) -> None:
        """Serve jobs until asked to stop."""
        heartbeat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        queue.beat(self.redis, self.id, self.settings.heartbeat_ttl_s)
        heartbeat.start()
        logger.info("worker %s waiting for jobs", self.id)
        try:
            while not self.stopping.is_set():
                self.serve_one()
        except ColdStop:
            logger.warning("cold stop: giving back job %s", self.current_job)
        finally:
            self.stopped.set()
            queue.retire(self.redis, self.id)
            logger.info("worker %s stopped", self.id)

    def stop(self) -> None:
        """Warm stop: finish the current job, take no new one."""
        self.stopping.set()

    def serve_one(self) -> None:
        """Take one job, or requeue orphaned jobs when the queue stays empty."""
        job_id = queue.claim(self.redis, self.id, CLAIM_TIMEOUT_S)
        if job_id is None:
            queue.recover_orphans(self.redis)
            return

        self.current_job = job_id
        try:
            self.process(job_id)
        finally:
            self.current_job = None

    def process(self, job_id: str) -> None:
        """Run one job to its end: done, failed, or back on the queue for another attempt."""
        job = jobs.load_job(self.redis, job_id)
        if job is None:
            logger.warning("job %s: no record (expired or removed); dropped", job_id)
            queue.release(self.redis, self.id, job_id)
            return

        attempts = jobs.count_attempt(self.redis, job_id)
        if attempts > self.settings.max_attempts:
            self.fail(
                job,
                f"gave up after {self.settings.max_attempts} attempts; "
                f"last error: {job.reason or 'the worker stopped during the job'}",
            )
            return

        logger.info("job %s: attempt %d, model %s", job_id, attempts, job.model)
        self.update(job_id, state=jobs.PROCESSING, progress=0, started_at=jobs.now())
        try:
            tracks = self.separate_job(job)
        except Exception as error:  # one bad job must not stop the worker
            self.retry_later(job, attempts, error)
        else:
            self.finish(job, tracks)

    def separate_job(self, job: jobs.Job) -> list[str]:
        """Fetch, decode, separate, encode and upload one song; return the stem names."""
        with tempfile.TemporaryDirectory(prefix=f"msaas-{job.id[:12]}-") as folder:
            song = Path(folder) / "song"
            self._store_call(self.storage.fetch_song)(job.id, str(song))
            wav = audio.decode(song, self.settings.max_duration_s)
            song.unlink()
            self.update(job.id, duration_s=round(wav.shape[-1] / audio.SAMPLE_RATE_HZ, 3))

            separator = self.separator_for(job.model)
            stems = separation.separate(
                separator, wav, lambda percent: self.update(job.id, progress=percent)
            )
            del wav
            return self.store_stems(job.id, stems, Path(folder))

    def store_stems(self, job_id: str, stems: dict, folder: Path) -> list[str]:
        """Encode each stem to MP3 and upload it, several at once (the encoder frees the GIL)."""

        def encode_and_upload(name: str) -> str:
            path = write_mp3(stems[name], folder / f"{name}.mp3", self.settings.mp3_bitrate_kbps)
            self._store_call(self.storage.put_stem)(job_id, name, str(path))
            path.unlink()
            return name

        with ThreadPoolExecutor(max_workers=len(stems)) as pool:
            return list(pool.map(encode_and_upload, stems))

    def separator_for(self, model: str) -> Separator:
        """The loaded model by that name, loading it on first use."""
        if model not in self.separators:
            self.separators[model] = separation.load_separator(
                model, self.settings.demucs_repo, self.device
            )
        return self.separators[model]

    def finish(self, job: jobs.Job, tracks: list[str]) -> None:
        """Record a done job, free its song, and tell the caller."""
        self.update(
            job.id, state=jobs.DONE, progress=100, tracks=tracks, reason="", finished_at=jobs.now()
        )
        queue.release(self.redis, self.id, job.id)
        logger.info("job %s: done, %d stems", job.id, len(tracks))
        self._delete_song(job.id)
        self.notify(job, jobs.DONE, tracks)

    def fail(self, job: jobs.Job, reason: str) -> None:
        """Record a failed job, free its song, and tell the caller."""
        self.update(job.id, state=jobs.FAILED, reason=reason, finished_at=jobs.now())
        queue.release(self.redis, self.id, job.id)
        logger.error("job %s: failed: %s", job.id, reason)
        self._delete_song(job.id)
        self.notify(job, jobs.FAILED, [])

    def retry_later(self, job: jobs.Job, attempts: int, error: Exception) -> None:
        """Record why an attempt failed and put the job back, or fail it after its last try."""
        reason = f"{type(error).__name__}: {error}"
        logger.exception("job %s: attempt %d failed", job.id, attempts)
        if attempts >= self.settings.max_attempts:
            self.fail(job, f"failed after {attempts} attempts: {reason}")
            return
        self.update(job.id, state=jobs.QUEUED, reason=reason, progress=0)
        queue.requeue(self.redis, self.id, job.id)

    def notify(self, job: jobs.Job, state: str, tracks: list[str]) -> None:
        """POST the outcome to the job's callback URL, if it has one; never fails the job."""
        if not job.callback.get("url"):
            return
        payload = {
            "hash": job.id,
            "status": state,
            "tracks": tracks,
            "data": job.callback.get("data"),
        }
        problem = send_callback(
            job.callback["url"],
            payload,
            timeout_s=self.settings.callback_timeout_s,
            attempts=self.settings.callback_attempts,
            secret=self.settings.callback_secret,
            policy=self.callback_policy,
        )
        if problem:
            logger.warning("job %s: %s", job.id, problem)
            self.update(job.id, callback_error=problem)

    def update(self, job_id: str, **values: object) -> None:
        """Write fields of a job's record."""
        jobs.update_job(self.redis, job_id, self.settings.job_ttl_s, **values)

    def _delete_song(self, job_id: str) -> None:
        try:
            self.storage.delete_song(job_id)
        except Unavailable:
            logger.warning("job %s: could not delete the uploaded song", job_id)

    def _beat(self) -> None:
        """Refresh the heartbeat until the worker stops; runs in its own thread."""
        interval = self.settings.heartbeat_ttl_s / 3
        while not self.stopped.wait(interval):
            try:
                queue.beat(self.redis, self.id, self.settings.heartbeat_ttl_s)
            except redis.RedisError:
                logger.warning("worker %s: heartbeat failed; retrying", self.id)
