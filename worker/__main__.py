"""Start a worker: read settings, connect, load the model once, then serve the queue."""

import logging
import signal
import sys

import redis
from prometheus_client import REGISTRY, start_http_server
from tenacity import before_sleep_log, retry, retry_if_exception_type, stop_after_delay, wait_fixed

from msaas.config import Settings
from msaas.errors import ConfigError, ModelLoadError, Unavailable
from msaas.logs import setup_logging
from msaas.metrics import QueueCollector
from msaas.storage import Storage
from worker import separation
from worker.loop import ColdStop, Worker

logger = logging.getLogger("worker")

# How long start-up waits for Redis and the object store to answer.
STARTUP_WAIT_S = 60


def main() -> int:
    """Run one worker until SIGTERM or Ctrl-C; return the exit status."""
    setup_logging()
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        logger.error("bad configuration: %s", error)
        return 2

    redis_client = redis.Redis.from_url(settings.redis_url)
    storage = Storage.from_settings(settings)
    wait_for_services(redis_client, storage)

    try:
        separator = separation.load_separator(
            settings.demucs_model,
            settings.demucs_repo,
            separation.pick_device(settings.demucs_device),
        )
    except ModelLoadError as error:
        logger.error("%s", error)
        return 1

    if settings.metrics_port:
        REGISTRY.register(QueueCollector(redis_client))
        try:
            start_http_server(settings.metrics_port)
        except OSError as error:
            logger.error("METRICS_PORT=%d cannot be served: %s", settings.metrics_port, error)
            return 2
    worker = Worker(settings, redis_client, storage, separator)
    install_signal_handlers(worker)
    worker.run()
    return 0


@retry(
    retry=retry_if_exception_type((Unavailable, redis.RedisError)),
    wait=wait_fixed(1),
    stop=stop_after_delay(STARTUP_WAIT_S),
    reraise=True,
    before_sleep=before_sleep_log(logger, logging.INFO),
)
def wait_for_services(redis_client: redis.Redis, storage: Storage) -> None:
    """Block until Redis and the object store answer, creating the buckets if needed."""
    redis_client.ping()
    storage.ensure_buckets()


def install_signal_handlers(worker: Worker) -> None:
    """First SIGTERM or Ctrl-C: finish the job, then exit. Second: give the job back, exit."""

    def on_signal(number: int, _frame) -> None:
        if not worker.stopping.is_set():
            logger.info("%s: finishing the current job, then stopping", signal.Signals(number).name)
            worker.stop()
            return
        raise ColdStop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


if __name__ == "__main__":
    sys.exit(main())
