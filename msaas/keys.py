"""Every Redis key name MSaaS uses, built in one place."""

PREFIX = "msaas"

# The waiting jobs: new ids are LPUSHed on the left, workers take from the right.
QUEUE = f"{PREFIX}:queue"

# The ids of workers that may hold jobs; the reaper checks each one's heartbeat.
WORKERS = f"{PREFIX}:workers"


def job(job_id: str) -> str:
    """The hash that holds one job's record."""
    return f"{PREFIX}:job:{job_id}"


def processing(worker_id: str) -> str:
    """The list of jobs a worker has taken and not yet finished (at most one)."""
    return f"{PREFIX}:processing:{worker_id}"


def heartbeat(worker_id: str) -> str:
    """The key a live worker keeps refreshing; it expires when the worker stops."""
    return f"{PREFIX}:heartbeat:{worker_id}"


# Counters of jobs queued, done and failed since the Redis data began, read by /metrics.
SUBMITTED_COUNT = f"{PREFIX}:count:submitted"
DONE_COUNT = f"{PREFIX}:count:done"
FAILED_COUNT = f"{PREFIX}:count:failed"
