"""GET /metrics: Prometheus text, read from Redis at scrape time.

The counts live in Redis, so every gunicorn process answers with the same numbers and no
process-local state (or prometheus_client's multiprocess mode) is needed.
"""

import redis
from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from msaas.metrics import JobCountCollector, QueueCollector

blueprint = Blueprint("metrics", __name__)


def build_registry(client: redis.Redis) -> CollectorRegistry:
    """A registry of the service-wide gauges and counters, read through `client`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(client))
    registry.register(JobCountCollector(client))
    return registry


@blueprint.get("/metrics")
def metrics():
    """The metrics in Prometheus' text format."""
    registry = current_app.extensions["metrics_registry"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
