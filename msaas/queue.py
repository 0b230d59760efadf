"""The job queue: a Redis list that loses no job when a worker dies.

New ids are LPUSHed on the left of `keys.QUEUE`. A worker takes the oldest one from the right
with BLMOVE, which atomically moves it into a processing list of its own, and removes it from
there only once the job is finished. While it works it refreshes a heartbeat key with a TTL. Any
worker can see a worker whose heartbeat has expired and moves that worker's jobs back onto the
queue. (The simpler LPUSH + BLPOP pair would serve the newest song first, and a song popped by
a worker that then crashes would be gone for good.)
"""

import logging

import redis

from msaas import keys
from msaas.jobs import FAILED, QUEUED, Job

logger = logging.getLogger(__name__)

# Create the record and queue the id in one step, unless a job with that id is alive already
# (a failed job, or one with removed tracks, may be submitted again). Returns 1 when queued.
_SUBMIT = """
local state = redis.call('HGET', KEYS[1], 'state')
local removed = redis.call('HGET', KEYS[1], 'removed')
local renewable = state == ARGV[2] or (removed and removed ~= '[]')
if state and not renewable then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
"""


# Move one job from a processing list back to the queue and mark its record queued, in one
# step: a worker that claims the job at once must not have its new state overwritten.
_RECOVER_ONE = """
local job_id = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'RIGHT')
if not job_id then
  return nil
end
local record = ARGV[1] .. job_id
if redis.call('EXISTS', record) == 1 then
  redis.call('HSET', record, 'state', ARGV[2], 'progress', 0)
end
return job_id
"""


def submit(client: redis.Redis, job: Job, ttl_s: int) -> bool:
    """Record `job` and queue it; False when the same job is queued, running or done whole."""
    flat = [item for pair in job.to_redis().items() for item in pair]
    queued = client.eval(_SUBMIT, 2, keys.job(job.id), keys.QUEUE, job.id, FAILED, ttl_s, *flat)
    return bool(queued)


def waiting(client: redis.Redis) -> list[str]:
    """The ids of waiting jobs, oldest first."""
    return [raw.decode() for raw in reversed(client.lrange(keys.QUEUE, 0, -1))]


def position(client: redis.Redis, job_id: str) -> int | None:
    """Where a waiting job stands: 1 is served next. None when it is not waiting."""
    index_from_left = client.lpos(keys.QUEUE, job_id)
    if index_from_left is None:
        return None
    return client.llen(keys.QUEUE) - index_from_left


def claim(client: redis.Redis, worker_id: str, timeout_s: float) -> str | None:
    """Take the oldest waiting job into this worker's processing list; None after the timeout."""
    raw = client.blmove(keys.QUEUE, keys.processing(worker_id), timeout_s, "RIGHT", "LEFT")
    return raw.decode() if raw is not None else None


def release(client: redis.Redis, worker_id: str, job_id: str) -> None:
    """Drop a finished (done or failed) job from this worker's processing list."""
    client.lrem(keys.processing(worker_id), 1, job_id)


def requeue(client: redis.Redis, worker_id: str, job_id: str) -> None:
    """Give a job back; it goes to the serving end, since it was the oldest when taken."""
    pipe = client.pipeline()
    pipe.lrem(keys.processing(worker_id), 1, job_id)
    pipe.rpush(keys.QUEUE, job_id)
    pipe.execute()


def beat(client: redis.Redis, worker_id: str, ttl_s: int) -> None:
    """Say this worker is alive for the next `ttl_s` seconds."""
    pipe = client.pipeline()
    pipe.set(keys.heartbeat(worker_id), 1, ex=ttl_s)
    pipe.sadd(keys.WORKERS, worker_id)
    pipe.execute()


def retire(client: redis.Redis, worker_id: str) -> None:
    """Remove a stopping worker, giving back whatever it still holds."""
    recover_jobs_of(client, worker_id)
    pipe = client.pipeline()
    pipe.delete(keys.heartbeat(worker_id))
    pipe.srem(keys.WORKERS, worker_id)
    pipe.execute()


def live_workers(client: redis.Redis) -> list[str]:
    """The ids of workers whose heartbeat has not expired."""
    ids = sorted(raw.decode() for raw in client.smembers(keys.WORKERS))
    # One round trip for all heartbeats: the API asks this on every status poll.
    pipe = client.pipeline(transaction=False)
    for worker_id in ids:
        pipe.exists(keys.heartbeat(worker_id))
    return [worker_id for worker_id, alive in zip(ids, pipe.execute(), strict=True) if alive]


def recover_jobs_of(client: redis.Redis, worker_id: str) -> list[str]:
    """Move every job a worker holds back to the serving end of the queue."""
    recovered = []
    while True:
        raw = client.eval(
            _RECOVER_ONE, 2, keys.processing(worker_id), keys.QUEUE, keys.job(""), QUEUED
        )
        if raw is None:
            return recovered
        recovered.append(raw.decode())


def recover_orphans(client: redis.Redis) -> list[str]:
    """Requeue the jobs of every worker whose heartbeat expired, and forget those workers."""
    recovered = []
    for raw in client.smembers(keys.WORKERS):
        worker_id = raw.decode()
        if client.exists(keys.heartbeat(worker_id)):
            continue
        orphans = recover_jobs_of(client, worker_id)
        client.srem(keys.WORKERS, worker_id)
        for job_id in orphans:
            logger.warning("job %s: worker %s stopped beating; job requeued", job_id, worker_id)
        recovered.extend(orphans)
    return recovered
