"""The three ways to separate a song that the benchmark compares, and the API latency probe."""

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests
import torch
from demucs.api import Separator

from msaas import audio
from msaas.jobs import STEMS

# How often the service leg asks whether its job is done; its share of the wall time is small.
STATUS_POLL_S = 0.05
JOB_TIMEOUT_S = 3600
DOWNLOAD_CHUNK_BYTES = 256 * 1024


def run_baseline(song: Path, model: str, repo: Path, out: Path) -> float:
    """The Demucs CLI in a fresh process, MP3 out, as lab workers call it; return wall seconds."""
    command = [sys.executable, "-m", "demucs.separate", "--mp3", "-n", model, "--repo", str(repo)]
    command += ["--device", "cpu"]  # like the service's workers here, even where CUDA exists
    start = time.perf_counter()
    subprocess.run(
        [*command, "-o", str(out), str(song)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


class Limit:
    """The model's own separation call in a warm process: the least any service can take."""

    def __init__(self, model: str, repo: Path, warm_song: Path):
        self.separator = Separator(model=model, repo=repo, device="cpu", progress=False)
        self.run(warm_song)

    def run(self, song: Path) -> float:
        """Separate a decoded song with Separator.separate_tensor; return wall seconds."""
        wav = torch.from_numpy(audio.decode(song, max_duration_s=3600))
        start = time.perf_counter()
        self.separator.separate_tensor(wav)
        return time.perf_counter() - start


@dataclass
class ServiceRun:
    """One song through the service: wall seconds and the worker's own split of its time."""

    job_id: str
    seconds: float
    timings: dict = field(default_factory=dict)


def run_service(url: str, song: Path, out: Path) -> ServiceRun:
    """POST a song, wait for its job, download every stem; return the wall time and split."""
    with requests.Session() as session:
        start = time.perf_counter()
        with song.open("rb") as file:
            response = session.post(f"{url}/apiv1/separate", files={"mp3": file}, timeout=60)
        response.raise_for_status()
        job_id = response.json()["hash"]
        status = _wait_done(session, url, job_id)
        for track in status["tracks"]:
            _download(session, f"{url}/apiv1/track/{job_id}/{track}", out / f"{track}.mp3")
        seconds = time.perf_counter() - start
    missing = set(STEMS) - set(status["tracks"])
    if missing:
        raise RuntimeError(f"job {job_id} lacks stems {sorted(missing)}")
    return ServiceRun(job_id, seconds, status.get("timings", {}))


def run_burst(url: str, songs: list[Path], out: Path) -> float:
    """Send every song at once, one client each; return the seconds until all stems are in."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(songs)) as pool:
        futures = []
        for index, song in enumerate(songs):
            folder = out / str(index)
            folder.mkdir(parents=True, exist_ok=True)
            futures.append(pool.submit(run_service, url, song, folder))
        for future in futures:
            future.result()
    return time.perf_counter() - start


def _wait_done(session: requests.Session, url: str, job_id: str) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status = session.get(f"{url}/apiv1/status/{job_id}", timeout=30).json()
        if status["state"] == "done":
            return status
        if status["state"] == "failed":
            raise RuntimeError(f"job {job_id} failed: {status['reason']}")
        time.sleep(STATUS_POLL_S)
    raise TimeoutError(f"job {job_id} not done after {JOB_TIMEOUT_S} s")


def _download(session: requests.Session, url: str, path: Path) -> None:
    with session.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        with path.open("wb") as file:
            for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                file.write(chunk)


@dataclass
class Latency:
    """Latency percentiles of one route, in milliseconds, and how many requests made them."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int


def probe_latency(
    url: str, paths: dict[str, str], clients: int, seconds: float, interval_s: float
) -> dict[str, Latency]:
    """`clients` threads, each asking every path in turn every `interval_s`, for `seconds`.

    Each client waits `interval_s` between its requests, as a client polling a job does; the
    run is bounded in time and stays on loopback.
    """
    samples: dict[str, list[float]] = {name: [] for name in paths}
    errors = dict.fromkeys(paths, 0)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        names = list(paths)
        turn = offset
        with requests.Session() as session:
            # Spread the clients' first requests over one interval, as real ones would be.
            time.sleep(interval_s * offset / clients)
            while time.monotonic() < deadline:
                name = names[turn % len(names)]
                turn += 1
                start = time.perf_counter()
                try:
                    ok = session.get(url + paths[name], timeout=10).ok
                except requests.RequestException:
                    ok = False
                elapsed_ms = (time.perf_counter() - start) * 1000
                with lock:
                    samples[name].append(elapsed_ms)
                    errors[name] += not ok
                time.sleep(max(0.0, interval_s - elapsed_ms / 1000))

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, range(clients)))

    return {
        name: Latency(
            *(float(np.percentile(values, q)) for q in (50, 95, 99)), len(values), errors[name]
        )
        for name, values in samples.items()
    }
