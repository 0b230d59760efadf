"""The /apiv1 routes. Views parse, call one function, and answer; errors go to rest.errors."""

from flask import Blueprint, Response, current_app, request

from msaas import jobs, queue
from msaas.errors import NotFound
from msaas.options import Options
from rest.auth import authenticate, current_owner
from rest.submissions import submit_song
from rest.uploads import read_upload

blueprint = Blueprint("api", __name__, url_prefix="/apiv1")

# Older clients send "base" for bass; the name stays accepted.
TRACK_ALIASES = {"base": "bass"}


@blueprint.before_request
def check_api_key():
    """With API_KEYS set, refuse requests without one of them (401); note who is calling."""
    authenticate(request)


@blueprint.post("/separate")
def separate():
    """Take a song (base64 JSON or multipart) and queue its separation."""
    settings = current_app.config["MSAAS_SETTINGS"]
    upload = read_upload(request, settings.models, settings.max_upload_bytes)

    submission = submit_song(upload, settings, _redis(), _storage(), current_owner())

    return {"hash": submission.job_id, "reason": submission.reason}


@blueprint.get("/queue")
def waiting_jobs():
    """The ids of waiting jobs, oldest first; nothing is taken off the queue."""
    waiting = queue.waiting(_redis())
    owner = current_owner()
    if owner:
        # With API keys, a caller sees only its own jobs.
        owned = jobs.owners(_redis(), waiting)
        waiting = [job_id for job_id, by in zip(waiting, owned, strict=True) if by == owner]
    return {"queue": waiting}


@blueprint.get("/status/<job_id>")
def status(job_id: str):
    """Where a job stands: state, progress, queue position, tracks, reason, timestamps."""
    job = _find_job(job_id)

    shown = job.public()
    shown["position"] = queue.position(_redis(), job_id) if job.state == jobs.QUEUED else None
    shown["workers"] = len(queue.live_workers(_redis()))
    return shown


@blueprint.get("/track/<job_id>/<track>")
def track(job_id: str, track: str):
    """Stream one stem from the object store, in the format the job asked for."""
    job = _find_job(job_id)
    stem = _find_track(job, track)
    options = _options_of(job)

    stored = _storage().open_stem(job.id, stem, options.extension)

    return Response(
        stored.chunks,
        mimetype=options.content_type,
        headers={
            "Content-Length": str(stored.size),
            "Content-Disposition": f'inline; filename="{job.id}-{stem}.{options.extension}"',
        },
    )


@blueprint.route("/remove/<job_id>/<track>", methods=["GET", "DELETE"])
def remove(job_id: str, track: str):
    """Delete one stem; 404 when it does not exist. Removing the last one removes the job."""
    settings = current_app.config["MSAAS_SETTINGS"]
    job = _find_job(job_id)
    stem = _find_track(job, track)

    _storage().delete_stem(job.id, stem, _options_of(job).extension)
    remaining = [name for name in job.tracks if name != stem]
    if remaining:
        jobs.update_job(
            _redis(), job.id, settings.job_ttl_s, tracks=remaining, removed=[*job.removed, stem]
        )
    else:
        jobs.delete_job(_redis(), job.id)

    return {"hash": job.id, "removed": stem, "tracks": remaining}


def _find_job(job_id: str) -> jobs.Job:
    """The job by that id, or NotFound; another API key's job is not found either."""
    job = jobs.load_job(_redis(), job_id) if jobs.is_job_id(job_id) else None
    if job is None or job.owner != current_owner():
        raise NotFound(f"no job with id {job_id!r}; ids come from POST /apiv1/separate")
    return job


def _options_of(job: jobs.Job) -> Options:
    """The options a job was submitted with (older records hold only the model)."""
    return Options.from_dict({"model": job.model, **job.options})


def _find_track(job: jobs.Job, track: str) -> str:
    """The stem a track name refers to ("vocals", "vocals.mp3", "base"), or NotFound."""
    name = track.removesuffix(f".{_options_of(job).extension}")
    name = TRACK_ALIASES.get(name, name)
    if name not in job.tracks:
        available = ", ".join(job.tracks) or f"none yet (job is {job.state})"
        raise NotFound(f"job {job.id} has no track {track!r}; its tracks: {available}")
    return name


def _redis():
    return current_app.extensions["redis"]


def _storage():
    return current_app.extensions["storage"]
