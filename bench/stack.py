"""The whole service on loopback for the benchmark: Redis, S3, the API under gunicorn, workers."""

import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import redis

from msaas import devservers, queue

ROOT = Path(__file__).resolve().parent.parent
ACCESS_KEY = "msaas-bench"
SECRET_KEY = "msaas-bench-secret"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20


class Stack:
    """Started servers and workers, their logs in `folder`, the API at `url`."""

    def __init__(self, folder: Path, model: str, repo: Path):
        self.folder = folder
        self.model = model
        self.repo = repo
        self.redis_port = devservers.free_port()
        self.s3_port = devservers.free_s3_port()
        self.api_port = devservers.free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.servers: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment every MSaaS process of the stack gets."""
        env = dict(os.environ)
        env.update(
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            S3_ENDPOINT=f"127.0.0.1:{self.s3_port}",
            S3_ACCESS_KEY=ACCESS_KEY,
            S3_SECRET_KEY=SECRET_KEY,
            DEMUCS_MODEL=self.model,
            DEMUCS_REPO=str(self.repo),
            DEMUCS_DEVICE="cpu",
            METRICS_PORT="0",
            LOG_LEVEL="WARNING",
        )
        env.update(overrides)
        return env

    def start(self) -> None:
        """Start Redis, the S3 store and the API, and wait until the API is ready."""
        self._spawn(
            devservers.redis_command(self.redis_port, self.folder / "redis"), "redis", self.servers
        )
        self._spawn(
            devservers.s3_command(self.s3_port, self.folder / "s3", ACCESS_KEY, SECRET_KEY),
            "s3",
            self.servers,
        )
        devservers.wait_for_port(self.redis_port, START_TIMEOUT_S)
        devservers.wait_for_port(self.s3_port, START_TIMEOUT_S)
        gunicorn = str(Path(sysconfig.get_path("scripts")) / "gunicorn")
        self._spawn(
            [
                gunicorn,
                "--config=python:rest.gunicorn_conf",
                f"--bind=127.0.0.1:{self.api_port}",
                "--access-logfile=/dev/null",
                "rest:create_app()",
            ],
            "api",
            self.servers,
        )
        devservers.wait_for_port(self.api_port, START_TIMEOUT_S)

    def start_workers(self, count: int, threads: int) -> list[subprocess.Popen]:
        """Start `count` workers with `threads` torch threads each; wait until all beat."""
        env = self.env(OMP_NUM_THREADS=str(threads))
        for _ in range(count):
            self._spawn([sys.executable, "-m", "worker"], "worker", self.workers, env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while live_workers(self.env()["REDIS_URL"]) < len(self.workers):
            if time.monotonic() > deadline or any(w.poll() is not None for w in self.workers):
                raise RuntimeError(f"workers did not start; see {self.folder}/worker.log")
            time.sleep(0.5)
        return self.workers

    def stop_workers(self) -> None:
        """Stop the workers (warm stop) and wait for them to exit."""
        _stop(self.workers)
        self.workers = []

    def stop(self) -> None:
        """Stop everything this stack started."""
        _stop(self.workers)
        _stop(self.servers)

    def _spawn(self, command: list[str], name: str, into: list, env: dict | None = None) -> None:
        with (self.folder / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env or self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        into.append(process)


def live_workers(redis_url: str) -> int:
    """How many workers have a live heartbeat."""
    try:
        return len(queue.live_workers(redis.Redis.from_url(redis_url)))
    except redis.ConnectionError:
        return 0


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")
