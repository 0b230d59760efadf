"""Prometheus metrics read from Redis at scrape time, so every process reports the same truth.

The API runs several gunicorn processes and workers come and go, so counts that must add up
across processes live in Redis (one INCR per event) and are read when Prometheus scrapes,
instead of in per-process counters that would need prometheus_client's multiprocess mode.
"""

import logging

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from msaas import keys, queue

logger = logging.getLogger(__name__)


def count_event(client: redis.Redis, key: str) -> None:
    """Add one to a Redis counter; a lost count is logged, never raised."""
    try:
        client.incr(key)
    except redis.RedisError:
        logger.warning("could not count %s for the metrics", key)


class QueueCollector(Collector):
    """Queue length, live workers and busy workers, read from Redis at each scrape."""

    def __init__(self, client: redis.Redis):
        self.client = client

    def collect(self):
        """Yield the gauges; nothing when Redis does not answer (the scrape still succeeds)."""
        try:
            length = self.client.llen(keys.QUEUE)
            alive = queue.live_workers(self.client)
            busy = sum(1 for worker_id in alive if self.client.llen(keys.processing(worker_id)))
        except redis.RedisError as error:
            logger.warning("metrics: Redis does not answer (%s)", type(error).__name__)
            return
        yield GaugeMetricFamily("msaas_queue_length", "Jobs waiting in the queue.", value=length)
        yield GaugeMetricFamily("msaas_workers_alive", "Workers with a live heartbeat.", len(alive))
        yield GaugeMetricFamily("msaas_workers_busy", "Live workers holding a job.", value=busy)


class JobCountCollector(Collector):
    """Jobs submitted, done and failed over the life of the Redis data, for the API."""

    COUNTS = (
        ("msaas_jobs_submitted", "Jobs queued by the API.", keys.SUBMITTED_COUNT),
        ("msaas_jobs_done", "Jobs separated by any worker.", keys.DONE_COUNT),
        ("msaas_jobs_failed", "Jobs failed for good by any worker.", keys.FAILED_COUNT),
    )

    def __init__(self, client: redis.Redis):
        self.client = client

    def collect(self):
        """Yield the counters; nothing when Redis does not answer."""
        try:
            values = self.client.mget([key for _, _, key in self.COUNTS])
        except redis.RedisError as error:
            logger.warning("metrics: Redis does not answer (%s)", type(error).__name__)
            return
        for (name, text, _), value in zip(self.COUNTS, values, strict=True):
            yield CounterMetricFamily(name, text, value=int(value or 0))
