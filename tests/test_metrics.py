"""Prometheus metrics: the API's service-wide view from Redis, and each worker's own."""

import base64
import io

import requests
from prometheus_client.parser import text_string_to_metric_families

from msaas import devservers
from rest import create_app
from tests.calls import wait_for
from tests.songs import make_mp3


def scrape(text: str) -> dict[str, float]:
    """Sample name -> value, for samples without labels (and histogram counts)."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.labels:
                values[sample.name] = sample.value
    return values


def submit(client, seconds: float, seed: int) -> str:
    body = {"mp3": base64.b64encode(make_mp3(seconds, seed=seed)).decode()}
    return client.post("/apiv1/separate", json=body).get_json()["hash"]


def test_api_metrics_count_submissions_and_the_queue_in_every_process(app, client, settings):
    submit(client, 1.0, seed=1)
    submit(client, 1.0, seed=2)
    submit(client, 1.0, seed=1)  # the same job again: not a new submission
    # Another app stands for another gunicorn process: it must report the same counts.
    other_process = create_app(settings).test_client()

    for answer in (client.get("/metrics"), other_process.get("/metrics")):
        assert answer.status_code == 200
        assert answer.mimetype == "text/plain"
        values = scrape(answer.get_data(as_text=True))
        assert values["msaas_jobs_submitted_total"] == 2
        assert values["msaas_queue_length"] == 2
        assert values["msaas_jobs_done_total"] == 0
        assert values["msaas_workers_alive"] == 0


def test_worker_metrics_time_each_phase_and_count_outcomes(client, start_worker):
    port = devservers.free_port()
    start_worker(METRICS_PORT=port)
    done = submit(client, 2.0, seed=3)
    assert wait_for(client, done)["state"] == "done"
    failed = client.post(
        "/apiv1/separate",
        data={"mp3": (io.BytesIO(make_mp3(1.0, seed=4)), "s.mp3"), "stems": "piano"},
        content_type="multipart/form-data",
    ).get_json()["hash"]
    assert wait_for(client, failed)["state"] == "failed"

    worker = scrape(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
    api = scrape(client.get("/metrics").get_data(as_text=True))

    assert worker["msaas_worker_jobs_done_total"] == 1
    assert worker["msaas_worker_jobs_failed_total"] == 1
    assert worker["msaas_job_wait_seconds_count"] == 2
    assert worker["msaas_job_separate_seconds_count"] == 1
    assert worker["msaas_job_separate_seconds_sum"] > 0
    assert worker["msaas_job_store_seconds_count"] == 1
    assert worker["msaas_worker_busy"] == 0
    assert worker["msaas_queue_length"] == 0
    assert worker["msaas_workers_alive"] == 1
    assert api["msaas_jobs_done_total"] == 1
    assert api["msaas_jobs_failed_total"] == 1
    assert api["msaas_jobs_submitted_total"] == 2
