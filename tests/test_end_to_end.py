"""Songs through the whole service: REST app, Redis queue, S3 store and real worker processes."""

import base64
import io
import signal

import numpy as np
import pytest
import sphn

from msaas import keys
from msaas.audio import SAMPLE_RATE_HZ
from tests.calls import b64, submit, wait_for, wait_until
from tests.songs import make_mp3

STEMS = {"bass", "drums", "vocals", "other"}


def decode(data: bytes, tmp_path) -> tuple[np.ndarray, int]:
    """Decode MP3 bytes with a real decoder."""
    path = tmp_path / "stem.mp3"
    path.write_bytes(data)
    return sphn.read(str(path))


def test_song_comes_back_as_four_stems_of_its_length(client, start_worker, tmp_path):
    song = make_mp3(3.0)
    source, _ = decode(song, tmp_path)
    start_worker()

    job_id = submit(client, song)
    status = wait_for(client, job_id)

    assert status["state"] == "done", status
    assert set(status["tracks"]) == STEMS
    assert status["progress"] == 100
    for track in ("bass", "drums.mp3", "vocals", "other.mp3", "base"):
        response = client.get(f"/apiv1/track/{job_id}/{track}")
        assert response.status_code == 200
        assert response.mimetype == "audio/mpeg"
        wav, rate = decode(response.data, tmp_path)
        assert rate == SAMPLE_RATE_HZ
        assert wav.shape[0] == 2
        assert abs(wav.shape[1] - source.shape[1]) / SAMPLE_RATE_HZ < 0.1
        assert np.isfinite(wav).all()


def test_mono_8khz_song_gives_stereo_44k_stems(client, start_worker, tmp_path):
    song = make_mp3(2.0, sample_rate=8000, channels=1, bitrate_kbps=32)
    source, source_rate = decode(song, tmp_path)
    start_worker()

    job_id = submit(client, song)
    status = wait_for(client, job_id)

    assert status["state"] == "done", status
    wav, rate = decode(client.get(f"/apiv1/track/{job_id}/vocals").data, tmp_path)
    assert (wav.shape[0], rate) == (2, SAMPLE_RATE_HZ)
    assert abs(wav.shape[1] / SAMPLE_RATE_HZ - source.shape[1] / source_rate) < 0.1


def test_multipart_upload_is_separated(client, start_worker):
    start_worker()

    response = client.post(
        "/apiv1/separate",
        data={"mp3": (io.BytesIO(make_mp3(1.0)), "a.mp3")},
        content_type="multipart/form-data",
    )
    status = wait_for(client, response.get_json()["hash"])

    assert status["state"] == "done"


def test_resubmitting_a_done_song_does_no_new_work(client, start_worker, redis_client):
    song = make_mp3(1.0)
    start_worker()
    job_id = submit(client, song)
    wait_for(client, job_id)

    again = client.post("/apiv1/separate", json={"mp3": base64.b64encode(song).decode()})

    assert again.get_json() == {
        "hash": job_id,
        "reason": "Song already separated; its stems are ready",
    }
    assert redis_client.llen(keys.QUEUE) == 0


def test_jobs_are_served_oldest_first(client, start_worker):
    ids = [submit(client, make_mp3(1.0, seed=i)) for i in range(3)]
    start_worker()

    started = [wait_for(client, job_id)["started_at"] for job_id in ids]

    assert started == sorted(started)
    finished = [client.get(f"/apiv1/status/{i}").get_json()["finished_at"] for i in ids]
    assert finished == sorted(finished)


def test_remove_deletes_a_stem_once(client, start_worker):
    start_worker()
    job_id = submit(client, make_mp3(1.0))
    wait_for(client, job_id)

    first = client.delete(f"/apiv1/remove/{job_id}/vocals")
    second = client.get(f"/apiv1/remove/{job_id}/vocals")

    assert first.status_code == 200
    assert second.status_code == 404
    assert client.get(f"/apiv1/track/{job_id}/vocals").status_code == 404
    assert client.get(f"/apiv1/track/{job_id}/drums").status_code == 200
    assert "vocals" not in client.get(f"/apiv1/status/{job_id}").get_json()["tracks"]


def test_song_sent_again_after_a_removal_is_separated_again(client, start_worker):
    song = make_mp3(1.0)
    start_worker()
    job_id = submit(client, song)
    wait_for(client, job_id)
    client.delete(f"/apiv1/remove/{job_id}/vocals")

    again = client.post("/apiv1/separate", json={"mp3": b64(song)}).get_json()
    status = wait_for(client, job_id)

    assert again == {"hash": job_id, "reason": "Song enqueued for separation"}
    assert set(status["tracks"]) == STEMS
    assert client.get(f"/apiv1/track/{job_id}/vocals").status_code == 200


def test_job_of_killed_worker_is_finished_by_another(client, start_worker, redis_client, storage):
    job_id = submit(client, make_mp3(20.0))
    doomed = start_worker()
    wait_for(client, job_id, states=("processing",))

    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    start_worker()
    status = wait_for(client, job_id, timeout_s=180)

    assert status["state"] == "done", status
    assert status["attempts"] == 2
    assert set(status["tracks"]) == STEMS
    # Exactly one set of stems, the song freed, nothing left on any queue.
    outputs = storage.client.list_objects(bucket_name="output", recursive=True)
    assert sorted(item.object_name for item in outputs) == sorted(
        f"{job_id}/{stem}.mp3" for stem in STEMS
    )
    assert list(storage.client.list_objects(bucket_name="queue", recursive=True)) == []
    assert redis_client.llen(keys.QUEUE) == 0
    assert not any(redis_client.llen(name) for name in redis_client.keys("msaas:processing:*"))


def test_warm_stop_finishes_the_current_job(client, start_worker):
    job_id = submit(client, make_mp3(8.0))
    worker = start_worker()
    wait_for(client, job_id, states=("processing",))

    worker.send_signal(signal.SIGTERM)

    assert worker.wait(timeout=120) == 0
    assert client.get(f"/apiv1/status/{job_id}").get_json()["state"] == "done"


def test_cold_stop_gives_the_job_back(client, start_worker, redis_client):
    job_id = submit(client, make_mp3(20.0))
    worker = start_worker()
    wait_for(client, job_id, states=("processing",))

    worker.send_signal(signal.SIGTERM)
    # A second signal that arrives before the first is handled merges with it.
    wait_until(lambda: "finishing the current job" in worker.log_path.read_text(), what="log")
    worker.send_signal(signal.SIGTERM)

    assert worker.wait(timeout=60) == 0
    assert client.get("/apiv1/queue").get_json()["queue"] == [job_id]
    assert client.get(f"/apiv1/status/{job_id}").get_json()["state"] == "queued"


@pytest.mark.parametrize("model", ["missing"])
def test_worker_without_model_stops_and_names_the_variables(start_worker, model):
    worker = start_worker(DEMUCS_MODEL=model)

    assert worker.wait(timeout=60) == 1
    with open(worker.log_path) as log:
        text = log.read()
    assert "DEMUCS_MODEL" in text
    assert "DEMUCS_REPO" in text
