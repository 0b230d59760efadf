"""Turning an upload into a queued job: check the audio, store the song, queue the id."""

import logging
from dataclasses import dataclass

import redis

from msaas import audio, jobs, keys, metrics, queue
from msaas.callbacks import CallbackPolicy
from msaas.config import Settings
from msaas.errors import Unavailable
from msaas.options import Options
from msaas.storage import Storage
from rest.uploads import Upload

logger = logging.getLogger(__name__)

REASON_QUEUED = "Song enqueued for separation"
REASON_EXISTING = {
    jobs.QUEUED: "Song already queued for separation",
    jobs.PROCESSING: "Song already being separated",
    jobs.DONE: "Song already separated; its stems are ready",
}


@dataclass(frozen=True)
class Submission:
    """The answer to a submission: the job's id and what happened."""

    job_id: str
    reason: str


def submit_song(
    upload: Upload, settings: Settings, client: redis.Redis, storage: Storage, owner: str = ""
) -> Submission:
    """Queue a separation of `upload` for `owner`, or point at the same job made before.

    Raises:
        BadCallback: the callback URL points where callbacks may not go.
        BadAudio: the bytes are not audio we can decode, or too long.
        Unavailable: Redis or the object store does not answer; nothing was queued.
    """
    if upload.callback:
        policy = CallbackPolicy(settings.callback_allow_list)
        policy.check_url(upload.callback["url"], resolve=False)
    info = audio.probe(upload.audio, settings.max_duration_s)
    options = upload.options or Options(model=upload.model)
    job_id = jobs.compute_job_id(upload.audio, options.identity(), owner)

    existing = jobs.load_job(client, job_id)
    if existing is not None and existing.state in REASON_EXISTING and not existing.removed:
        return Submission(job_id, REASON_EXISTING[existing.state])

    # The song must be stored before its id is queued, or a worker could take a job with no song.
    storage.put_song(job_id, upload.audio)
    job = jobs.Job(
        id=job_id,
        model=upload.model,
        options=options.as_dict(),
        callback=upload.callback,
        owner=owner,
        duration_s=round(info.duration_s, 3),
        created_at=jobs.now(),
    )
    try:
        queued = queue.submit(client, job, settings.job_ttl_s)
    except redis.RedisError as error:
        _forget_song(storage, job_id)
        raise Unavailable("the job store (Redis) does not answer") from error

    if not queued:
        # Another request queued the same song between our check and our submit.
        current = jobs.load_job(client, job_id)
        state = current.state if current is not None else jobs.QUEUED
        return Submission(job_id, REASON_EXISTING.get(state, REASON_EXISTING[jobs.QUEUED]))
    metrics.count_event(client, keys.SUBMITTED_COUNT)
    logger.info("job %s: queued (%.1f s of audio, model %s)", job_id, info.duration_s, job.model)
    return Submission(job_id, REASON_QUEUED)


def _forget_song(storage: Storage, job_id: str) -> None:
    """Remove a song whose job could not be queued, so nothing is left behind."""
    try:
        storage.delete_song(job_id)
    except Unavailable:
        logger.warning("job %s: could not remove the song of an unqueued job", job_id)
