"""Fixtures: a real Redis server, a real S3 server, the tiny Demucs model, apps and workers.

The servers start once per test session on free ports; each test starts with an empty Redis
database and empty buckets.
"""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import pytest
import redis
import requests
from werkzeug.serving import make_server

from msaas import devservers
from msaas.config import ENV_NAMES, Settings
from msaas.storage import Storage
from rest import create_app
from worker.models import TINY, write_random_model

ROOT = Path(__file__).resolve().parent.parent
ACCESS_KEY = "msaas-test"
SECRET_KEY = "msaas-test-secret"
# Short enough that a killed worker's job comes back within a test, long enough for CI load.
TEST_HEARTBEAT_TTL_S = 3


class ServerProcess:
    """A server started by the suite, with its port and a way to stop and restart it."""

    def __init__(self, command: list[str], port: int, log: Path):
        self.command = command
        self.port = port
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        devservers.wait_for_port(self.port, timeout_s=60)

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(folder: Path) -> ServerProcess:
    """Start a Redis server, append-only, keeping its files in `folder`."""
    port = devservers.free_port()
    server = ServerProcess(
        devservers.redis_command(port, folder, persist=True), port, folder / "redis.log"
    )
    server.start()
    return server


def start_s3(folder: Path) -> ServerProcess:
    """Start an S3-compatible server keeping its files in `folder`; return once it answers."""
    port = devservers.free_s3_port()
    server = ServerProcess(
        devservers.s3_command(port, folder / "data", ACCESS_KEY, SECRET_KEY),
        port,
        folder / "s3.log",
    )
    server.start()
    wait_for_s3(port)
    return server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A Redis server for the whole session, with append-only persistence."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """An S3-compatible server for the whole session."""
    server = start_s3(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


def wait_for_s3(port: int, timeout_s: float = 60) -> None:
    """SeaweedFS accepts connections before its S3 gateway is ready; wait for real answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError("the S3 server did not become ready")


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory) -> Path:
    """A local Demucs repository holding the tiny random-weight model."""
    folder = tmp_path_factory.mktemp("models")
    write_random_model(folder, "tiny", TINY)
    return folder


@pytest.fixture
def settings(redis_server, s3_server, model_repo) -> Settings:
    """Settings that point at the suite's servers and the tiny model."""
    return Settings(
        redis_url=f"redis://127.0.0.1:{redis_server.port}/0",
        s3_endpoint=f"127.0.0.1:{s3_server.port}",
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        max_upload_mb=2,
        max_duration_s=60,
        heartbeat_ttl_s=TEST_HEARTBEAT_TTL_S,
        store_retry_s=2,
        mp3_bitrate_kbps=128,
        demucs_model="tiny",
        demucs_repo=str(model_repo),
        demucs_device="cpu",
        metrics_port=0,
    )


@pytest.fixture
def redis_client(settings) -> redis.Redis:
    """A client of the suite's Redis, emptied before the test."""
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def storage(settings) -> Storage:
    """The suite's object store with empty queue and output buckets."""
    store = Storage.from_settings(settings)
    store.ensure_buckets()
    for bucket in (store.queue_bucket, store.output_bucket):
        for item in store.client.list_objects(bucket_name=bucket, recursive=True):
            store.client.remove_object(bucket_name=bucket, object_name=item.object_name)
    return store


@pytest.fixture
def app(settings, redis_client, storage):
    """The REST app, wired to the suite's servers."""
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    """A test client of the REST app."""
    return app.test_client()


@contextmanager
def serve_app(app) -> Iterator[str]:
    """Serve `app` over real HTTP on a free port (werkzeug, a thread per request); yield its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def live_server(app):
    """The REST app's base URL over real HTTP, for clients that speak HTTP: CLI and browser."""
    with serve_app(app) as url:
        yield url


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that give a process these settings."""
    env = dict(os.environ)
    for field in fields(settings):
        value = getattr(settings, field.name)
        env[ENV_NAMES[field.name]] = str(value).lower() if isinstance(value, bool) else str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def start_worker(settings, redis_client, storage, tmp_path):
    """Start worker processes (`python -m worker`); every one is stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(**overrides: object) -> subprocess.Popen:
        env = settings_env(settings)
        env.update({key: str(value) for key, value in overrides.items()})
        log_path = tmp_path / f"worker-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process.log_path = log_path
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
