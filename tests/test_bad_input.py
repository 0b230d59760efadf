"""Bad input: every one gets a JSON 4xx, and nothing is queued, stored or handed to a worker.

tests/test_api.py holds the first table of bad JSON bodies; this file adds the rest: odd JSON,
bad forms, paths and ids, chunked bodies over the limit through gunicorn, and a worker that
keeps serving while all of it arrives.
"""

import io
import json
import os
import subprocess
import sys
import time

import pytest
import requests
from urllib3 import encode_multipart_formdata

from msaas import devservers, keys
from tests.calls import b64
from tests.conftest import ROOT, settings_env
from tests.songs import make_mp3

SONG = make_mp3(1.0)
ID = "0" * 64


def nothing_queued_or_stored(redis_client, storage) -> bool:
    """No id on the queue, no job record, no song in the store."""
    songs = list(storage.client.list_objects(bucket_name="queue", recursive=True))
    return redis_client.llen(keys.QUEUE) == 0 and not redis_client.keys("msaas:job:*") and not songs


def with_song(**fields) -> str:
    """A JSON body holding a good song and `fields`."""
    return json.dumps({"mp3": b64(SONG), **fields})


JSON = "application/json"
# (name, content type, body, words in the error); each must get a 400.
BAD_BODIES = [
    ("json-nested-too-deep", JSON, "[" * 100_000, "not JSON"),
    ("json-object-nested-too-deep", JSON, '{"mp3":' + "[" * 100_000, "not JSON"),
    ("json-not-utf8", JSON, b'{"mp3": "\xff\xfe"}', "not JSON"),
    ("json-huge-number", JSON, '{"mp3": 1' + "0" * 5000 + "}", "not JSON"),
    ("json-nan", JSON, '{"mp3": NaN}', "string"),
    ("mp3-null", JSON, '{"mp3": null}', "string"),
    ("mp3-list", JSON, '{"mp3": ["AAAA"]}', "string"),
    ("mp3-object", JSON, '{"mp3": {"data": "AAAA"}}', "string"),
    ("mp3-whitespace", JSON, '{"mp3": "  \\n  "}', "empty"),
    ("mp3-bad-padding", JSON, '{"mp3": "QUJDRA"}', "base64"),
    ("mp3-url-safe-alphabet", JSON, '{"mp3": "-_-_"}', "base64"),
    ("data-url-of-text", JSON, '{"mp3": "data:text/plain;base64,aGVsbG8="}', "decode"),
    ("id3-tag-only", JSON, json.dumps({"mp3": b64(b"ID3" + bytes(2000))}), "decode"),
    ("model-list", JSON, with_song(model=["tiny"]), "model"),
    ("model-path", JSON, with_song(model="../tiny"), "model"),
    ("model-too-long", JSON, with_song(model="t" * 500), "model"),
    ("callback-no-url", JSON, with_song(callback={}), "callback"),
    ("callback-url-not-string", JSON, with_song(callback={"url": 5}), "callback"),
    ("callback-file-url", JSON, with_song(callback={"url": "file:///etc/passwd"}), "http"),
    ("callback-bad-port", JSON, with_song(callback={"url": "http://example.org:99999/"}), "URL"),
    ("form-urlencoded", "application/x-www-form-urlencoded", "mp3=AAAA", "not JSON"),
    ("multipart-without-boundary", "multipart/form-data", b"abc", '"mp3"'),
    ("multipart-broken", "multipart/form-data; boundary=x", b"--x\r\nbroken", '"mp3"'),
]


@pytest.mark.parametrize(
    ("content_type", "body", "words"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_bad_body_gets_json_400_and_leaves_nothing(
    client, redis_client, storage, content_type, body, words
):
    response = client.post("/apiv1/separate", data=body, content_type=content_type)

    assert response.status_code == 400
    assert words in response.get_json()["error"]
    assert nothing_queued_or_stored(redis_client, storage)


def form(**fields) -> tuple[bytes, str]:
    return encode_multipart_formdata(fields)


BAD_FORMS = [
    ("file-field-empty", form(mp3=("song.mp3", b"")), "empty"),
    ("file-field-as-text", form(mp3=b64(SONG)), '"mp3"'),
    ("file-is-text", form(mp3=("notes.txt", b"just words\n" * 100)), "decode"),
    ("callback-not-json", form(mp3=("song.mp3", SONG), callback="{url"), "callback"),
    (
        "callback-private",
        form(mp3=("a.mp3", SONG), callback='{"url": "http://10.1.2.3/"}'),
        "private",
    ),
    ("model-shell", form(mp3=("song.mp3", SONG), model="$(reboot)"), "model"),
]


@pytest.mark.parametrize(
    ("encoded", "words"), [case[1:] for case in BAD_FORMS], ids=[case[0] for case in BAD_FORMS]
)
def test_bad_form_gets_json_400_and_leaves_nothing(client, redis_client, storage, encoded, words):
    body, content_type = encoded

    response = client.post("/apiv1/separate", data=body, content_type=content_type)

    assert response.status_code == 400
    assert words in response.get_json()["error"]
    assert nothing_queued_or_stored(redis_client, storage)


BAD_PATHS = [
    f"/apiv1/track/{ID}/..",
    f"/apiv1/track/{ID}/../../etc/passwd",
    f"/apiv1/track/{ID}/..%2F..%2Fetc%2Fpasswd",
    f"/apiv1/track/{ID}/vocals%2F..%2F..%2Fsong",
    f"/apiv1/track/{ID}/%2e%2e",
    f"/apiv1/track/{ID}/vocals.mp3.mp3",
    f"/apiv1/track/{ID}/vocals%00",
    f"/apiv1/remove/{ID}/..%2Fsong",
    "/apiv1/status/..",
    "/apiv1/status/%2e%2e%2f%2e%2e",
    "/apiv1/status/" + "A" * 64,  # upper case: not an id we make
    "/apiv1/status/" + "0" * 63,
    "/apiv1/status/" + "0" * 65,
    "/apiv1/status/" + "g" * 64,
    f"/apiv1/status/{ID}%00",
    "/apiv1/status/*",
    "/apiv1/status/msaas:queue",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_paths_and_foreign_ids_are_json_404(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.get_json()["error"]


def test_track_names_cannot_leave_the_job(client, redis_client, storage):
    """A done job with a stem: names with dots or slashes reach nothing else in the store."""
    job_id = client.post("/apiv1/separate", json={"mp3": b64(SONG)}).get_json()["hash"]
    storage.client.put_object(
        bucket_name="output", object_name=f"{job_id}/vocals.mp3", data=io.BytesIO(b"ID3"), length=3
    )
    redis_client.hset(keys.job(job_id), mapping={"state": "done", "tracks": '["vocals"]'})

    assert client.get(f"/apiv1/track/{job_id}/vocals").status_code == 200
    for name in ("..%2Fsong", "vocals%2F..%2F..%2Fqueue", "..", "%2e%2e%2fvocals", "song"):
        response = client.get(f"/apiv1/track/{job_id}/{name}")
        assert response.status_code == 404, name
        assert response.mimetype == "application/json"


def test_truncated_mp3_is_accepted(client):
    song = make_mp3(3.0)

    response = client.post("/apiv1/separate", json={"mp3": b64(song[: len(song) // 2])})

    assert response.status_code == 200


@pytest.fixture
def gunicorn(settings, redis_client, storage, tmp_path):
    """The API under gunicorn, as deployed, on a free port; yields its base URL."""
    port = devservers.free_port()
    env = settings_env(settings)
    env.update(PORT=str(port), WEB_CONCURRENCY="1")
    with (tmp_path / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                "--config",
                "python:rest.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{port}",
                "rest:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        devservers.wait_for_port(port, timeout_s=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def chunks(head: bytes, size: int, tail: bytes):
    """A body sent with chunked transfer encoding: no Content-Length for the server to check."""
    yield head
    for _ in range(size // 65536 + 1):
        yield b"A" * 65536
    yield tail


@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_chunked_body_over_the_limit_is_413(gunicorn, settings, redis_client, storage, kind):
    limit = settings.max_upload_bytes * 4 // 3  # the base64 size of the largest song
    if kind == "json":
        content_type, head, tail = "application/json", b'{"mp3": "', b'"}'
    else:
        content_type = "multipart/form-data; boundary=xx"
        head = b'--xx\r\nContent-Disposition: form-data; name="mp3"; filename="a.mp3"\r\n\r\n'
        tail = b"\r\n--xx--\r\n"

    started = time.monotonic()
    response = requests.post(
        f"{gunicorn}/apiv1/separate",
        data=chunks(head, 3 * limit, tail),
        headers={"Content-Type": content_type},
        timeout=60,
    )

    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert time.monotonic() - started < 30
    assert nothing_queued_or_stored(redis_client, storage)


def test_chunked_body_under_the_limit_is_accepted(gunicorn, redis_client):
    body = json.dumps({"mp3": b64(SONG)}).encode()

    response = requests.post(
        f"{gunicorn}/apiv1/separate",
        data=iter([body[:100], body[100:]]),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )

    assert response.status_code == 200, response.text
    assert redis_client.llen(keys.QUEUE) == 1


def test_bad_inputs_leave_a_running_worker_undisturbed(client, start_worker, redis_client):
    worker = start_worker()
    for _, content_type, body, _ in BAD_BODIES:
        assert client.post("/apiv1/separate", data=body, content_type=content_type).status_code
    for path in BAD_PATHS:
        client.get(path)

    job_id = client.post("/apiv1/separate", json={"mp3": b64(SONG)}).get_json()["hash"]
    deadline = time.monotonic() + 120
    while client.get(f"/apiv1/status/{job_id}").get_json()["state"] != "done":
        assert time.monotonic() < deadline, "the good song was not separated"
        time.sleep(0.2)

    assert worker.poll() is None
    status = client.get(f"/apiv1/status/{job_id}").get_json()
    assert status["attempts"] == 1
    assert status["workers"] == 1
    assert redis_client.keys("msaas:job:*") == [keys.job(job_id).encode()]
