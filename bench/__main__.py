"""Benchmark MSaaS against the Demucs CLI run per song and against the bare model call.

Same machine, same input, same model (an htdemucs-sized model with random weights): for each
input length, the wall time of the CLI (baseline), of this service end to end with a warm
worker (service) and of Demucs' separation call in a warm process (limit); then a burst of
songs against the CLI run once per song, a worker's peak memory, and API latency under many
concurrent clients. Everything runs on loopback in a temporary folder.

Usage: python -m bench [--full] [options]   (make bench; BENCH_* variables set the defaults)
"""

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import inputs, legs
from bench.stack import ROOT, Stack, peak_rss_mb
from worker.models import HTDEMUCS, write_random_model
from worker.timings import PHASES

DEFAULT_MODEL = "htdemucs-random"
# Service overhead targets, as a share of the limit, per input length in seconds.
OVERHEAD_TARGETS = {30: 0.10, 120: 0.05}
BURST_SPEEDUP_TARGET = 1.4
PEAK_MEMORY_TARGET_MB = 3 * 1024
STATUS_P99_TARGET_MS = 50
WARM_SONG_S = 4
BURST_SONG_S = 10
FULL = {"lengths": "10,30,120", "burst": 8, "memory_s": 600}


@dataclass
class Row:
    """One input length through the three legs."""

    length_s: int
    baseline_s: float
    service_s: float
    limit_s: float
    timings: dict

    @property
    def overhead_s(self) -> float:
        """What the service adds to the model's own time."""
        return self.service_s - self.limit_s

    @property
    def non_model_s(self) -> float:
        """The service's time outside the model call, from one run: immune to drift between legs."""
        return self.service_s - self.timings.get("separate_s", float("nan"))


@dataclass
class Results:
    """Everything one benchmark run measured."""

    machine: dict
    rows: list[Row] = field(default_factory=list)
    burst: dict = field(default_factory=dict)
    memory_mb: dict = field(default_factory=dict)
    latency: dict = field(default_factory=dict)


class Songs:
    """Fresh MP3 files cut from one piece of music; no two are the same bytes (or the same job)."""

    def __init__(self, folder: Path, max_s: float):
        self.folder = folder
        self.music, self.source = inputs.load_music(max_s)
        self.count = 0

    def make(self, seconds: float) -> Path:
        """A new song of `seconds`, from its own place in the music."""
        self.count += 1
        path = self.folder / f"song-{self.count}-{seconds:g}s.mp3"
        return inputs.write_song(self.music, seconds, path, offset_s=7.3 * (self.count - 1))


def main() -> None:
    """Run the benchmark and print its table."""
    options = parse_options()
    cores = os.cpu_count() or 1
    repo = options.repo.resolve()
    ensure_model(options.model, repo)

    with tempfile.TemporaryDirectory(prefix="msaas-bench-") as tmp:
        folder = Path(tmp)
        songs = Songs(folder, max_s=max([*options.lengths, options.memory_s, 60]))
        results = Results(machine=describe_machine(cores, options.model, songs.source))
        stack = Stack(folder, options.model, repo)
        try:
            stack.start()
            run_table(options, stack, songs, folder, results, cores)
            run_bursts(options, stack, songs, folder, results, cores)
            run_memory(options, stack, songs, folder, results, cores)
            run_latency(options, stack, songs, folder, results)
        finally:
            stack.stop()

    print_results(results, options)
    if options.json:
        options.json.write_text(json.dumps(asdict(results), indent=2))


def parse_options() -> argparse.Namespace:
    """Options from the command line, with defaults from BENCH_* variables."""

    def env(name: str, default: object) -> str:
        return os.environ.get(f"BENCH_{name}", str(default))

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--full",
        action="store_true",
        default=env("FULL", "") not in ("", "0"),
        help="the whole table: 10, 30 and 120 s, a burst of 8, memory on 600 s (about 30 min)",
    )
    parser.add_argument("--lengths", default=env("LENGTHS", "10,30"), help="input lengths in s")
    parser.add_argument("--burst", type=int, default=int(env("BURST", 4)), help="songs per burst")
    parser.add_argument(
        "--burst-workers", default=env("BURST_WORKERS", "1,2"), help="worker counts of bursts"
    )
    parser.add_argument(
        "--memory-s",
        type=int,
        default=int(env("MEMORY_S", 0)),
        help="length of a song for a worker's peak memory (0: the longest table input)",
    )
    parser.add_argument("--clients", type=int, default=int(env("CLIENTS", 50)))
    parser.add_argument(
        "--latency-s", type=float, default=float(env("LATENCY_S", 10)), help="latency run length"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=float(env("POLL_INTERVAL_S", 0.5)),
        help="seconds between two requests of one latency client",
    )
    parser.add_argument("--model", default=env("MODEL", DEFAULT_MODEL))
    parser.add_argument("--repo", type=Path, default=Path(env("REPO", ROOT / ".models")))
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    options = parser.parse_args()

    if options.full:
        for name, value in FULL.items():
            if getattr(options, name) == parser.get_default(name):
                setattr(options, name, value)
    options.lengths = [int(x) for x in str(options.lengths).split(",") if x]
    options.burst_workers = [int(x) for x in str(options.burst_workers).split(",") if x]
    return options


def ensure_model(model: str, repo: Path) -> None:
    """Write the htdemucs-sized random model into `repo` unless it is there."""
    if (repo / f"{model}.yaml").exists():
        return
    if model != DEFAULT_MODEL:
        raise SystemExit(f"no model {model!r} in {repo}")
    print(f"writing {model} (random weights) into {repo}", flush=True)
    write_random_model(repo, model, HTDEMUCS)


def describe_machine(cores: int, model: str, source: str) -> dict:
    """What the numbers were taken on."""
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": cores,
        "memory_gb": round(memory_kb / 1024**2, 1),
        "model": model,
        "input": source,
        "load_before": round(os.getloadavg()[0], 2),
    }


def run_table(options, stack: Stack, songs: Songs, folder: Path, results: Results, cores: int):
    """Each input length through limit, service and baseline, one after the other."""
    log(f"limit: loading {options.model} in this process")
    limit = legs.Limit(options.model, options.repo.resolve(), songs.make(WARM_SONG_S))
    workers = stack.start_workers(1, threads=cores)
    legs.run_service(stack.url, songs.make(WARM_SONG_S), fresh(folder, "warm"))

    for length in options.lengths:
        song = songs.make(length)
        log(f"{length} s: limit")
        limit_s = limit.run(song)
        log(f"{length} s: service")
        service = legs.run_service(stack.url, song, fresh(folder, f"service-{length}"))
        log(f"{length} s: baseline")
        baseline_s = legs.run_baseline(song, options.model, options.repo, fresh(folder, "cli"))
        results.rows.append(Row(length, baseline_s, service.seconds, limit_s, service.timings))
    del limit

    results.memory_mb[f"worker after the table ({max(options.lengths)} s longest)"] = round(
        peak_rss_mb(workers[0].pid)
    )


def run_bursts(options, stack: Stack, songs: Songs, folder: Path, results: Results, cores: int):
    """`burst` short songs through the CLI in a row, and at once through the service."""
    if not options.burst:
        return
    batch = [songs.make(BURST_SONG_S) for _ in range(options.burst)]
    log(f"burst: {options.burst} CLI runs in a row")
    start = time.perf_counter()
    for song in batch:
        legs.run_baseline(song, options.model, options.repo, fresh(folder, "cli"))
    results.burst["baseline_s"] = time.perf_counter() - start

    for count in options.burst_workers:
        threads = max(1, cores // count)
        if len(stack.workers) != count:
            stack.stop_workers()
            stack.start_workers(count, threads=threads)
            warm(stack, songs, folder, count)
        # Songs the service has not seen yet: the same bytes would be the same, finished job.
        fresh_batch = batch if count == options.burst_workers[0] else None
        fresh_batch = fresh_batch or [songs.make(BURST_SONG_S) for _ in range(options.burst)]
        log(f"burst: {options.burst} songs at once, {count} worker(s) x {threads} thread(s)")
        seconds = legs.run_burst(stack.url, fresh_batch, fresh(folder, f"burst-{count}"))
        results.burst[f"service_{count}w_s"] = seconds
        results.burst[f"threads_{count}w"] = threads


def run_memory(options, stack: Stack, songs: Songs, folder: Path, results: Results, cores: int):
    """A fresh worker's peak resident memory over one long song."""
    if not options.memory_s:
        return
    stack.stop_workers()
    (worker,) = stack.start_workers(1, threads=cores)
    log(f"memory: one {options.memory_s} s song")
    legs.run_service(stack.url, songs.make(options.memory_s), fresh(folder, "memory"))
    results.memory_mb[f"worker on a {options.memory_s} s song"] = round(peak_rss_mb(worker.pid))


def run_latency(options, stack: Stack, songs: Songs, folder: Path, results: Results) -> None:
    """Status and queue latency under `clients` concurrent clients, workers idle."""
    if not options.clients:
        return
    if not stack.workers:
        stack.start_workers(1, threads=1)
    done = legs.run_service(stack.url, songs.make(WARM_SONG_S), fresh(folder, "latency")).job_id
    log(f"latency: {options.clients} clients for {options.latency_s:g} s")
    measured = legs.probe_latency(
        stack.url,
        {"status": f"/apiv1/status/{done}", "queue": "/apiv1/queue"},
        options.clients,
        options.latency_s,
        options.poll_interval,
    )
    results.latency = {name: asdict(value) for name, value in measured.items()}


def warm(stack: Stack, songs: Songs, folder: Path, count: int) -> None:
    """One short job per worker, so that every worker has run the model once."""
    legs.run_burst(stack.url, [songs.make(WARM_SONG_S) for _ in range(count)], fresh(folder, "w"))


def fresh(folder: Path, name: str) -> Path:
    """An empty folder for one run's output."""
    path = folder / "out" / f"{name}-{time.monotonic_ns()}"
    path.mkdir(parents=True)
    return path


def log(message: str) -> None:
    """Say what runs now (the table comes at the end)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def print_results(results: Results, options) -> None:
    """Print the table, the burst, memory, latency and the targets."""
    m = results.machine
    print()
    print(
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB RAM; "
        f"load before the run {m['load_before']}"
    )
    print(f"Model: {m['model']} (HTDemucs-sized, random weights); input: {m['input']}")
    print()
    header = ["input", "baseline", "service", "limit", "svc/base", "svc/limit", "overhead"]
    header += ["non-model"]
    header += [p.replace("_", " ") for p in PHASES]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for row in results.rows:
        cells = [
            f"{row.length_s} s",
            f"{row.baseline_s:.1f} s",
            f"{row.service_s:.1f} s",
            f"{row.limit_s:.1f} s",
            f"{row.service_s / row.baseline_s:.2f}",
            f"{row.service_s / row.limit_s:.2f}",
            f"{row.overhead_s:+.1f} s ({row.overhead_s / row.limit_s:+.0%})",
            f"{row.non_model_s:.1f} s ({row.non_model_s / row.limit_s:.0%})",
        ]
        cells += [f"{row.timings.get(f'{p}_s', float('nan')):.2f}" for p in PHASES]
        print(" | ".join(cells))

    if results.burst:
        b = results.burst
        print()
        print(f"Burst of {options.burst} x {BURST_SONG_S} s songs:")
        print(f"  baseline (CLI, one after another): {b['baseline_s']:.1f} s")
        for count in options.burst_workers:
            seconds = b[f"service_{count}w_s"]
            print(
                f"  service, {count} worker(s) x {b[f'threads_{count}w']} thread(s): "
                f"{seconds:.1f} s, {b['baseline_s'] / seconds:.2f}x faster than baseline"
            )

    print()
    for label, mb in results.memory_mb.items():
        print(f"Peak resident memory, {label}: {mb} MB")

    if results.latency:
        print()
        print(
            f"API latency, {options.clients} clients each polling every "
            f"{options.poll_interval:g} s for {options.latency_s:g} s (workers idle):"
        )
        for name, value in results.latency.items():
            print(
                f"  /apiv1/{name}: p50 {value['p50_ms']:.1f} ms, p95 {value['p95_ms']:.1f} ms, "
                f"p99 {value['p99_ms']:.1f} ms ({value['requests']} requests, "
                f"{value['errors']} errors)"
            )

    print()
    for line in check_targets(results):
        print(line)


def check_targets(results: Results) -> list[str]:
    """One line per target the run measured: met or not."""
    lines = []
    for row in results.rows:
        target = OVERHEAD_TARGETS.get(row.length_s)
        if target is not None:
            share = row.overhead_s / row.limit_s
            lines.append(_verdict(f"overhead at {row.length_s} s <= {target:.0%}", share <= target))
            share = row.non_model_s / row.limit_s
            label = f"non-model time at {row.length_s} s <= {target:.0%} of the limit"
            lines.append(_verdict(label, share <= target))
    burst = results.burst
    for key in [k for k in burst if k.startswith("service_")]:
        speedup = burst["baseline_s"] / burst[key]
        label = f"burst {key.split('_')[1]} >= {BURST_SPEEDUP_TARGET}x baseline ({speedup:.2f}x)"
        lines.append(_verdict(label, speedup >= BURST_SPEEDUP_TARGET))
    for label, mb in results.memory_mb.items():
        lines.append(_verdict(f"{label} <= 3 GB ({mb} MB)", mb <= PEAK_MEMORY_TARGET_MB))
    if "status" in results.latency:
        p99 = results.latency["status"]["p99_ms"]
        lines.append(_verdict(f"status p99 < {STATUS_P99_TARGET_MS} ms", p99 < 50))
    return lines


def _verdict(label: str, met: bool) -> str:
    return f"target {label}: {'met' if met else 'NOT met'}"


if __name__ == "__main__":
    main()
