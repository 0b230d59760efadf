"""The worker: take a job from the queue, separate its song, store the stems, report.

Only this module joins the queue, the object store and the model. A failed job never stops
the worker: its reason is recorded and the job is retried until its attempts are used up.
"""

import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis
from demucs.api import Separator
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from msaas import audio, jobs, keys, queue
from msaas.callbacks import CallbackPolicy
from msaas.config import Settings
from msaas.errors import BadRequest, Unavailable
from msaas.metrics import count_event
from msaas.options import COMPLEMENT_PREFIX, Options, check_sources
from msaas.storage import Storage
from worker import metrics, separation
from worker.callback import send_callback
from worker.stems import write_stem
from worker.timings import PhaseClock, seconds_since

logger = logging.getLogger(__name__)

# How long one wait on the queue blocks before the worker looks at its stop flag again.
CLAIM_TIMEOUT_S = 2.0
# How often a worker that lost Redis tries it again.
REDIS_RETRY_S = 1.0
# A cap on the store retry back-off, so that a returning store is noticed soon.
STORE_RETRY_MAX_WAIT_S = 8
# The most time between two sweeps for expired songs and stems, when the queue is idle.
SWEEP_INTERVAL_S = 60


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
        self.next_sweep = 0.0
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
                try:
                    self.serve_one()
                except (redis.ConnectionError, redis.TimeoutError):
                    self.wait_for_redis()
        except ColdStop:
            logger.warning("cold stop: giving back job %s", self.current_job)
        finally:
            self.stopped.set()
            queue.retire(self.redis, self.id)
            logger.info("worker %s stopped", self.id)

    def wait_for_redis(self) -> None:
        """Redis went away (a restart, a failover): wait for it, then give back what we held.

        A job cut short stays in this worker's processing list, and a live worker's jobs are
        never taken back by others; so this worker requeues it itself.
        """
        logger.warning("worker %s: Redis does not answer; waiting for it", self.id)
        while not self.stopping.wait(REDIS_RETRY_S):
            try:
                recovered = queue.recover_jobs_of(self.redis, self.id)
            except (redis.ConnectionError, redis.TimeoutError):
                continue
            for job_id in recovered:
                logger.warning("job %s: requeued after Redis came back", job_id)
            logger.info("worker %s: Redis answers again", self.id)
            return

    def stop(self) -> None:
        """Warm stop: finish the current job, take no new one."""
        self.stopping.set()

    def serve_one(self) -> None:
        """Take one job, or requeue orphaned jobs when the queue stays empty."""
        job_id = queue.claim(self.redis, self.id, CLAIM_TIMEOUT_S)
        if job_id is None:
            queue.recover_orphans(self.redis)
            self.sweep_expired()
            return

        self.current_job = job_id
        metrics.BUSY.set(1)
        try:
            self.process(job_id)
        finally:
            self.current_job = None
            metrics.BUSY.set(0)

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
        except BadRequest as error:  # the song or the options: another attempt would fail too
            logger.warning("job %s: %s", job_id, error)
            self.fail(job, str(error))
        except Exception as error:  # one bad job must not stop the worker
            self.retry_later(job, attempts, error)
        else:
            self.finish(job, tracks)

    def separate_job(self, job: jobs.Job) -> list[str]:
        """Fetch, decode, separate, encode and upload one song; return the stem names."""
        clock = PhaseClock()
        waited_s = seconds_since(job.created_at)
        clock.record("queue_wait", waited_s)
        metrics.WAIT_SECONDS.observe(waited_s)
        with tempfile.TemporaryDirectory(prefix=f"msaas-{job.id[:12]}-") as folder:
            song = Path(folder) / "song"
            with clock.phase("fetch"):
                self._store_call(self.storage.fetch_song)(job.id, str(song))
            with clock.phase("decode"):
                wav = audio.decode(song, self.settings.max_duration_s)
            song.unlink()
            self.update(job.id, duration_s=round(wav.shape[-1] / audio.SAMPLE_RATE_HZ, 3))

            options = Options.from_dict({"model": job.model, **job.options})
            separator = self.separator_for(options.model)
            check_sources(options, separator.model.sources)
            with metrics.SEPARATE_SECONDS.time(), clock.phase("separate"):
                stems = separation.separate(
                    separator,
                    wav,
                    lambda percent: self.update(job.id, progress=percent),
                    shifts=options.shifts,
                    overlap=options.overlap,
                )
            del wav
            if options.stems:
                stems = separation.two_stems(
                    stems, options.stems, COMPLEMENT_PREFIX + options.stems
                )
            with metrics.STORE_SECONDS.time():
                tracks = self.store_stems(job.id, stems, options, Path(folder), clock)
            self.update(job.id, timings=clock.seconds)
            return tracks

    def store_stems(
        self, job_id: str, stems: dict, options: Options, folder: Path, clock: PhaseClock
    ) -> list[str]:
        """Encode each stem and upload it, several at once (the encoders free the GIL).

        On the clock, "encode" runs until the last stem is encoded, "upload" from then on.
        """
        bitrate = options.bitrate or self.settings.mp3_bitrate_kbps
        start = time.monotonic()
        encoded_at = []

        def encode_and_upload(name: str) -> str:
            path = folder / f"{name}.{options.extension}"
            write_stem(stems[name], path, options.format, bitrate)
            encoded_at.append(time.monotonic())
            self._store_call(self.storage.put_stem)(
                job_id, name, str(path), options.content_type, options.extension
            )
            path.unlink()
            return name

        with ThreadPoolExecutor(max_workers=len(stems)) as pool:
            tracks = list(pool.map(encode_and_upload, stems))
        clock.record("encode", max(encoded_at) - start)
        clock.record("upload", time.monotonic() - max(encoded_at))
        return tracks

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
        metrics.JOBS_DONE.inc()
        count_event(self.redis, keys.DONE_COUNT)
        logger.info("job %s: done, %d stems", job.id, len(tracks))
        self._delete_song(job.id)
        self.notify(job, jobs.DONE, tracks)

    def fail(self, job: jobs.Job, reason: str) -> None:
        """Record a failed job, free its song, and tell the caller."""
        self.update(job.id, state=jobs.FAILED, reason=reason, finished_at=jobs.now())
        queue.release(self.redis, self.id, job.id)
        metrics.JOBS_FAILED.inc()
        count_event(self.redis, keys.FAILED_COUNT)
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

    def sweep_expired(self) -> None:
        """Remove songs, stems and records of jobs older than RETENTION_S (when the queue idles).

        A sweep works with any S3 store; several workers sweeping at once only repeat deletes.
        TODO(retention): a sweep lists every object; on a large store, bucket lifecycle rules
        (where the store has them, as MinIO does) would expire objects without listing.
        """
        retention_s = self.settings.retention_s
        if not retention_s or time.monotonic() < self.next_sweep:
            return
        self.next_sweep = time.monotonic() + min(SWEEP_INTERVAL_S, max(1, retention_s / 4))

        cutoff = datetime.now(timezone.utc) - timedelta(seconds=retention_s)
        try:
            for job_id in self.storage.jobs_stored_before(cutoff):
                self.expire_job(job_id)
        except (Unavailable, redis.RedisError) as error:
            logger.warning("retention sweep skipped: %s", error)

    def expire_job(self, job_id: str) -> None:
        """Remove a job's objects and record, unless the job is waiting or running."""
        job = jobs.load_job(self.redis, job_id)
        if job is not None and job.state in (jobs.QUEUED, jobs.PROCESSING):
            return
        self.storage.delete_job_objects(job_id)
        jobs.delete_job(self.redis, job_id)
        logger.info(
            "job %s: expired after %d s; its song and stems are removed",
            job_id,
            self.settings.retention_s,
        )

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
