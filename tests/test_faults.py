"""Faults: Redis restarts, store outages, songs and models that fail, racing clients, no worker.

Each test that stops a server starts its own (function-scoped), so the session's servers stay
up for the rest of the suite. Every wait is bounded.
"""

import threading
import time
from dataclasses import replace

import pytest

from msaas import jobs, keys, queue
from msaas.storage import Storage
from rest import create_app
from tests.calls import b64, submit, wait_for, wait_until
from tests.conftest import ServerProcess, start_redis, start_s3, wait_for_s3
from tests.songs import make_mp3


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test alone, append-only, that the test may stop and restart."""
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def own_s3(tmp_path):
    """An S3 server of this test alone, that the test may stop and restart."""
    server = start_s3(tmp_path / "s3")
    yield server
    if server.process.poll() is None:
        crash(server)  # SeaweedFS takes its time to stop on SIGTERM; its data is not needed


def restart(server: ServerProcess) -> None:
    server.stop()
    server.start()


def crash(server: ServerProcess) -> None:
    """Kill the server at once, as a crash or a lost node would."""
    server.process.kill()
    server.process.wait()


def test_waiting_jobs_survive_redis_restarts_and_so_does_the_worker(
    settings, storage, own_redis, start_worker
):
    redis_url = f"redis://127.0.0.1:{own_redis.port}/0"
    client = create_app(replace(settings, redis_url=redis_url)).test_client()
    ids = [submit(client, make_mp3(1.0, seed=seed)) for seed in range(3)]

    restart(own_redis)

    # No worker yet: every job says it waits, and where.
    assert client.get("/apiv1/queue").get_json() == {"queue": ids}
    for position, job_id in enumerate(ids, start=1):
        status = client.get(f"/apiv1/status/{job_id}").get_json()
        assert (status["state"], status["position"], status["workers"]) == (
            "queued",
            position,
            0,
        )

    worker = start_worker(REDIS_URL=redis_url)
    assert all(wait_for(client, job_id)["state"] == "done" for job_id in ids)

    # Redis goes away under an idle worker and comes back: the same worker serves on.
    restart(own_redis)
    later = submit(client, make_mp3(1.0, seed=9))
    assert wait_for(client, later)["state"] == "done"
    assert worker.poll() is None
    assert client.get(f"/apiv1/status/{later}").get_json()["workers"] == 1


def test_store_outage_fails_jobs_with_a_reason_and_service_resumes(
    settings, redis_client, own_s3, start_worker
):
    s3_settings = replace(settings, s3_endpoint=f"127.0.0.1:{own_s3.port}")
    store = Storage.from_settings(s3_settings)
    store.ensure_buckets()
    client = create_app(s3_settings).test_client()
    worker = start_worker(S3_ENDPOINT=s3_settings.s3_endpoint, MAX_ATTEMPTS="2", STORE_RETRY_S="2")
    wait_until(lambda: queue.live_workers(redis_client), what="the worker to start")

    # A job whose song was stored just before the store went down.
    song = make_mp3(1.0)
    job_id = jobs.compute_job_id(song, {"model": "tiny"})
    store.put_song(job_id, song)
    crash(own_s3)
    started = time.monotonic()
    queue.submit(redis_client, jobs.Job(id=job_id, model="tiny", created_at=jobs.now()), 3600)

    failed = wait_for(client, job_id, timeout_s=60)
    assert failed["state"] == "failed"
    assert failed["attempts"] == 2
    assert "object store does not answer" in failed["reason"]
    # Two attempts, each retrying the store for about STORE_RETRY_S with back-off.
    assert time.monotonic() - started >= 2

    own_s3.start()
    wait_for_s3(own_s3.port)
    after = submit(client, make_mp3(1.0, seed=2))
    assert wait_for(client, after)["state"] == "done"
    assert worker.poll() is None


def test_song_or_model_that_fails_ends_the_job_with_a_reason_and_the_worker_goes_on(
    client, redis_client, storage, start_worker
):
    garbage = b"not audio at all " * 500
    bad_song = jobs.compute_job_id(garbage, {"model": "tiny"})
    storage.put_song(bad_song, garbage)
    queue.submit(redis_client, jobs.Job(id=bad_song, model="tiny", created_at=jobs.now()), 3600)
    song = make_mp3(1.0)
    bad_model = jobs.compute_job_id(song, {"model": "vanished"})
    storage.put_song(bad_model, song)
    queue.submit(
        redis_client, jobs.Job(id=bad_model, model="vanished", created_at=jobs.now()), 3600
    )
    good = submit(client, make_mp3(1.0, seed=3))
    worker = start_worker(MAX_ATTEMPTS="2")

    song_failure = wait_for(client, bad_song)
    model_failure = wait_for(client, bad_model)
    done = wait_for(client, good)

    assert song_failure["state"] == "failed"
    assert "not audio we can decode" in song_failure["reason"]
    assert model_failure["state"] == "failed"
    assert model_failure["attempts"] == 2
    assert "vanished" in model_failure["reason"]
    assert "Traceback" not in song_failure["reason"] + model_failure["reason"]
    assert done["state"] == "done"
    assert worker.poll() is None


def test_same_song_from_many_clients_at_once_is_one_job(app, redis_client, storage):
    song = make_mp3(1.0, seed=5)
    answers = []
    barrier = threading.Barrier(8)

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(client.post("/apiv1/separate", json={"mp3": b64(song)}))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [answer.status_code for answer in answers] == [200] * 8
    assert len({answer.get_json()["hash"] for answer in answers}) == 1
    reasons = [answer.get_json()["reason"] for answer in answers]
    assert reasons.count("Song enqueued for separation") == 1
    assert redis_client.llen(keys.QUEUE) == 1
    assert len(redis_client.keys("msaas:job:*")) == 1


def test_without_workers_jobs_wait_and_say_so(client, settings):
    ids = [submit(client, make_mp3(1.0, seed=seed)) for seed in range(2)]

    # Longer than a heartbeat: nothing about a waiting job expires or moves on its own.
    time.sleep(settings.heartbeat_ttl_s + 1)

    for position, job_id in enumerate(ids, start=1):
        status = client.get(f"/apiv1/status/{job_id}").get_json()
        assert status["state"] == "queued"
        assert status["position"] == position
        assert status["workers"] == 0
        assert status["reason"] == ""
    assert client.get("/apiv1/queue").get_json() == {"queue": ids}


def test_redis_down_for_the_api_is_503_never_500(settings, storage):
    client = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0")).test_client()

    for method, path in [
        ("GET", "/apiv1/queue"),
        ("GET", "/apiv1/status/" + "0" * 64),
        ("GET", "/apiv1/track/" + "0" * 64 + "/vocals"),
        ("DELETE", "/apiv1/remove/" + "0" * 64 + "/vocals"),
    ]:
        response = client.open(path, method=method)
        assert response.status_code == 503, path
        assert "Redis" in response.get_json()["error"]
