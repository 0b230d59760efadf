"""Retention: songs and stems expire after RETENTION_S; a job with no stems left is gone."""

import base64
import time

from msaas import jobs
from msaas.storage import stem_object
from tests.calls import wait_for
from tests.songs import make_mp3


def put_done_job(redis_client, storage, tmp_path, tracks: list[str]) -> str:
    """A done job with real stem objects in the store, as a worker leaves it."""
    job_id = jobs.compute_job_id(make_mp3(0.5), {"model": "tiny"})
    for track in tracks:
        path = tmp_path / f"{track}.mp3"
        path.write_bytes(make_mp3(0.5))
        storage.put_stem(job_id, track, str(path))
    jobs.update_job(
        redis_client, job_id, 60, id=job_id, state=jobs.DONE, tracks=tracks, model="tiny"
    )
    return job_id


def stored_objects(storage) -> list[str]:
    return [
        item.object_name
        for bucket in (storage.queue_bucket, storage.output_bucket)
        for item in storage.client.list_objects(bucket_name=bucket, recursive=True)
    ]


def test_removing_every_track_removes_the_job(client, redis_client, storage, tmp_path):
    job_id = put_done_job(redis_client, storage, tmp_path, ["vocals", "drums"])

    first = client.delete(f"/apiv1/remove/{job_id}/vocals")
    assert first.get_json()["tracks"] == ["drums"]
    assert client.get(f"/apiv1/status/{job_id}").status_code == 200
    last = client.delete(f"/apiv1/remove/{job_id}/drums.mp3")

    assert last.status_code == 200
    assert last.get_json()["tracks"] == []
    assert client.get(f"/apiv1/status/{job_id}").status_code == 404
    assert stem_object(job_id, "drums") not in stored_objects(storage)


def test_worker_sweeps_expired_stems_and_their_job(client, start_worker, storage):
    start_worker(RETENTION_S=2)
    song = base64.b64encode(make_mp3(1.0, seed=5)).decode()
    job_id = client.post("/apiv1/separate", json={"mp3": song}).get_json()["hash"]
    assert wait_for(client, job_id)["state"] == "done"
    assert any(name.startswith(job_id) for name in stored_objects(storage))

    deadline = time.monotonic() + 30
    while client.get(f"/apiv1/status/{job_id}").status_code != 404:
        assert time.monotonic() < deadline, "the expired job was not swept"
        time.sleep(0.5)

    assert not any(name.startswith(job_id) for name in stored_objects(storage))
