"""The worker's own Prometheus metrics, served on METRICS_PORT by the worker's entry point.

Each worker is one process, so plain counters and histograms are correct here; Prometheus
sums them over the workers. Queue gauges come from msaas.metrics.QueueCollector.
"""

from prometheus_client import Counter, Gauge, Histogram

# From a few seconds (short songs, GPUs) to an hour (long songs, slow CPUs, long queues).
DURATION_BUCKETS_S = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)

JOBS_DONE = Counter("msaas_worker_jobs_done", "Jobs this worker separated.")
JOBS_FAILED = Counter("msaas_worker_jobs_failed", "Jobs this worker failed for good.")
WAIT_SECONDS = Histogram(
    "msaas_job_wait_seconds",
    "Time from submission to the start of an attempt.",
    buckets=DURATION_BUCKETS_S,
)
SEPARATE_SECONDS = Histogram(
    "msaas_job_separate_seconds",
    "Time the model took to separate one song.",
    buckets=DURATION_BUCKETS_S,
)
STORE_SECONDS = Histogram(
    "msaas_job_store_seconds",
    "Time to encode the stems of one song and upload them.",
    buckets=DURATION_BUCKETS_S,
)
BUSY = Gauge("msaas_worker_busy", "1 while this worker holds a job, else 0.")
