"""The REST API against real Redis and S3 servers, with no worker running."""

import pytest

from msaas import jobs, keys
from msaas.storage import song_object
from tests.calls import b64, post_form, post_json
from tests.songs import make_mp3

SONG = make_mp3(2.0)


def test_separate_json_queues_job_and_stores_song(client, redis_client, storage):
    response = post_json(client, {"mp3": b64(SONG)})

    assert response.status_code == 200
    body = response.get_json()
    assert body["reason"] == "Song enqueued for separation"
    assert jobs.is_job_id(body["hash"])
    assert client.get("/apiv1/queue").get_json() == {"queue": [body["hash"]]}
    stored = storage.client.stat_object(bucket_name="queue", object_name=song_object(body["hash"]))
    assert stored.size == len(SONG)


def test_separate_multipart_and_base64_give_same_id_and_one_job(client, redis_client):
    first = post_form(client, SONG).get_json()
    second = post_json(client, {"mp3": b64(SONG)}).get_json()

    assert first["hash"] == second["hash"]
    assert first["reason"] == "Song enqueued for separation"
    assert second["reason"] == "Song already queued for separation"
    assert redis_client.llen(keys.QUEUE) == 1


def test_separate_accepts_data_url_prefix_and_line_breaks(client):
    text = b64(SONG)
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))

    response = post_json(client, {"mp3": "data:audio/mpeg;base64," + wrapped})

    assert response.status_code == 200
    assert response.get_json()["hash"] == post_form(client, SONG).get_json()["hash"]


def test_separate_options_change_the_id(client, settings):
    plain = post_json(client, {"mp3": b64(SONG)}).get_json()["hash"]
    named = post_json(client, {"mp3": b64(SONG), "model": "tiny"}).get_json()["hash"]
    other_song = post_json(client, {"mp3": b64(make_mp3(2.0, seed=1))}).get_json()["hash"]

    assert plain == named  # the default model, named or not, is the same job
    assert other_song != plain


def test_queue_lists_oldest_first_and_consumes_nothing(client):
    ids = [
        post_json(client, {"mp3": b64(make_mp3(1.0, seed=i))}).get_json()["hash"] for i in range(3)
    ]

    assert client.get("/apiv1/queue").get_json()["queue"] == ids
    assert client.get("/apiv1/queue").get_json()["queue"] == ids


def test_status_of_waiting_job_shows_state_and_position(client):
    ids = [
        post_json(client, {"mp3": b64(make_mp3(1.0, seed=i))}).get_json()["hash"] for i in range(2)
    ]

    status = client.get(f"/apiv1/status/{ids[1]}").get_json()

    assert status["state"] == "queued"
    assert status["position"] == 2
    assert status["workers"] == 0
    assert status["model"] == "tiny"
    assert status["tracks"] == []
    assert status["created_at"]
    assert "callback" not in status


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ("", 400, "not JSON"),
        ("{not json", 400, "not JSON"),
        ("[1, 2]", 400, "object"),
        ({"song": "abc"}, 400, '"mp3"'),
        ({"mp3": 42}, 400, "string"),
        ({"mp3": "!!!not base64!!!"}, 400, "base64"),
        ({"mp3": ""}, 400, "empty"),
        ({"mp3": b64(b"hello, this is a text file\n" * 40)}, 400, "decode"),
        ({"mp3": b64(bytes(range(256)) * 40)}, 400, "decode"),
        ({"mp3": b64(SONG), "model": "nope"}, 400, "unknown model"),
        ({"mp3": b64(SONG), "model": "tiny; rm -rf /"}, 400, "model"),
        ({"mp3": b64(SONG), "callback": "http://x"}, 400, "callback"),
        ({"mp3": b64(SONG), "callback": {"url": "ftp://x/y"}}, 400, "http"),
    ],
)
def test_separate_bad_input_gets_json_error_and_queues_nothing(
    client, redis_client, storage, body, status, words
):
    response = post_json(client, body)

    assert response.status_code == status
    assert words in response.get_json()["error"]
    assert redis_client.llen(keys.QUEUE) == 0
    assert list(storage.client.list_objects(bucket_name="queue", recursive=True)) == []


def test_separate_multipart_without_file_field(client):
    response = client.post(
        "/apiv1/separate", data={"song": "x"}, content_type="multipart/form-data"
    )

    assert response.status_code == 400
    assert '"mp3"' in response.get_json()["error"]


def test_separate_over_size_limit_is_413(client, settings, redis_client):
    too_big = b"\0" * (settings.max_upload_bytes + 1)

    as_json = post_json(client, {"mp3": b64(too_big)})
    as_form = post_form(client, too_big)

    assert as_json.status_code == 413
    assert as_form.status_code == 413
    assert "limit" in as_json.get_json()["error"]
    assert redis_client.llen(keys.QUEUE) == 0


def test_separate_too_long_song_is_400(client, settings):
    response = post_json(
        client, {"mp3": b64(make_mp3(settings.max_duration_s + 5, 8000, 1, bitrate_kbps=8))}
    )

    assert response.status_code == 400
    assert "limit" in response.get_json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/apiv1/status/" + "0" * 64,
        "/apiv1/status/not-an-id",
        "/apiv1/track/" + "0" * 64 + "/vocals",
        "/apiv1/remove/" + "0" * 64 + "/vocals",
        "/apiv1/nothing-here",
    ],
)
def test_unknown_ids_and_routes_are_json_404(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.get_json()["error"]


def test_track_of_unfinished_job_is_404(client):
    job_id = post_json(client, {"mp3": b64(SONG)}).get_json()["hash"]

    response = client.get(f"/apiv1/track/{job_id}/vocals")

    assert response.status_code == 404
    assert "queued" in response.get_json()["error"]


def test_probes_answer(client):
    assert client.get("/").status_code == 200
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_redis_down_gives_503(settings, storage):
    from dataclasses import replace

    from rest import create_app

    app = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    client = app.test_client()

    assert client.get("/readyz").status_code == 503
    assert client.get("/apiv1/queue").status_code == 503
    response = post_json(client, {"mp3": b64(SONG)})
    assert response.status_code == 503
    assert "Redis" in response.get_json()["error"]


def test_store_down_gives_503_and_queues_nothing(settings, redis_client):
    from dataclasses import replace

    from rest import create_app

    app = create_app(replace(settings, s3_endpoint="127.0.0.1:1"))
    client = app.test_client()

    assert client.get("/readyz").status_code == 503
    response = post_json(client, {"mp3": b64(SONG)})
    assert response.status_code == 503
    assert "object store" in response.get_json()["error"]
    assert redis_client.llen(keys.QUEUE) == 0
    assert redis_client.keys("msaas:job:*") == []
