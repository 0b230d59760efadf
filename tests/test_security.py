"""Security: API keys and job ownership, safe and signed callbacks, rate limits, clean logs."""

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from msaas import jobs, keys
from msaas.callbacks import CallbackPolicy
from msaas.errors import BadCallback
from rest import create_app
from rest.auth import fingerprint
from tests.calls import b64, wait_for
from tests.conftest import SECRET_KEY
from tests.songs import make_mp3
from worker.callback import SIGNATURE_HEADER, TIMESTAMP_HEADER, send_callback

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-fedcba9876543210"
SONG = make_mp3(1.0)
CALLBACK_SECRET = "callback-secret-for-tests"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed_client(settings, redis_client, storage):
    """A client of an app that requires API key A or B."""
    app = create_app(replace(settings, api_keys=f"{KEY_A}, {KEY_B}"))
    return app.test_client()


def submit(client, key: str, song: bytes = SONG, **fields) -> str:
    response = client.post(
        "/apiv1/separate", json={"mp3": b64(song), **fields}, headers=bearer(key)
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["hash"]


# API keys


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/apiv1/separate"),
        ("GET", "/apiv1/queue"),
        ("GET", "/apiv1/status/" + "0" * 64),
        ("GET", "/apiv1/track/" + "0" * 64 + "/vocals"),
        ("DELETE", "/apiv1/remove/" + "0" * 64 + "/vocals"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {KEY_A}"},
        {"Authorization": f"Bearer {KEY_A}x"},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "wrong", "basic", "longer", "empty"],
)
def test_api_keys_set_every_call_without_one_is_401(keyed_client, method, path, headers):
    response = keyed_client.open(path, method=method, headers=headers, json={"mp3": b64(SONG)})

    assert response.status_code == 401
    assert "Authorization: Bearer" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_keys_set_probes_stay_open(keyed_client):
    assert keyed_client.get("/healthz").status_code == 200
    assert keyed_client.get("/readyz").status_code == 200


def test_api_keys_set_a_job_is_seen_only_by_its_key(keyed_client, redis_client):
    job_id = submit(keyed_client, KEY_A)
    redis_client.hset(keys.job(job_id), mapping={"state": "done", "tracks": '["vocals"]'})

    as_a = keyed_client.get(f"/apiv1/status/{job_id}", headers=bearer(KEY_A))
    assert as_a.status_code == 200
    assert "owner" not in as_a.get_json()
    assert keyed_client.get("/apiv1/queue", headers=bearer(KEY_B)).get_json() == {"queue": []}
    for path in (f"/apiv1/status/{job_id}", f"/apiv1/track/{job_id}/vocals"):
        assert keyed_client.get(path, headers=bearer(KEY_B)).status_code == 404
    removal = keyed_client.delete(f"/apiv1/remove/{job_id}/vocals", headers=bearer(KEY_B))
    assert removal.status_code == 404
    assert jobs.load_job(redis_client, job_id).tracks == ["vocals"]


def test_api_keys_set_same_song_from_two_keys_is_two_jobs(keyed_client, redis_client):
    first = submit(keyed_client, KEY_A)
    second = submit(keyed_client, KEY_B)

    assert first != second
    assert keyed_client.get("/apiv1/queue", headers=bearer(KEY_A)).get_json() == {"queue": [first]}
    assert keyed_client.get("/apiv1/queue", headers=bearer(KEY_B)).get_json() == {"queue": [second]}
    assert jobs.load_job(redis_client, first).owner == fingerprint(KEY_A)


def test_api_keys_are_never_stored(keyed_client, redis_client):
    submit(keyed_client, KEY_A)

    dump = b""
    for name in redis_client.keys("*"):
        kind = redis_client.type(name)
        if kind == b"hash":
            dump += b" ".join(k + b"=" + v for k, v in redis_client.hgetall(name).items())
        elif kind == b"list":
            dump += b" ".join(redis_client.lrange(name, 0, -1))
        elif kind == b"string":
            dump += redis_client.get(name) or b""
        dump += name

    assert KEY_A.encode() not in dump
    assert fingerprint(KEY_A).encode() in dump


def test_no_api_keys_means_an_open_api(client):
    response = client.post("/apiv1/separate", json={"mp3": b64(SONG)})
    other = client.get(f"/apiv1/status/{response.get_json()['hash']}", headers=bearer("any"))

    assert response.status_code == 200
    assert other.status_code == 200


# Callback addresses


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1/hook",
        "http://2130706433/hook",
        "http://0x7f.0.0.1/hook",
        "http://0.0.0.0:8080/",
        "http://localhost:5000/",
        "http://LOCALHOST./",
        "http://api.localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.5/",
        "http://172.16.3.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://224.0.0.1/",
        "https://user:pw@10.1.1.1:8443/x",
    ],
)
def test_callback_to_inside_address_is_refused_at_submission(client, redis_client, url):
    response = client.post(
        "/apiv1/separate", json={"mp3": b64(SONG), "callback": {"url": url, "data": 1}}
    )

    assert response.status_code == 400
    assert "callback" in response.get_json()["error"]
    assert redis_client.llen(keys.QUEUE) == 0


def test_callback_to_public_host_is_accepted_at_submission(client):
    response = client.post(
        "/apiv1/separate",
        json={"mp3": b64(SONG), "callback": {"url": "https://hooks.example.org/x?t=1"}},
    )

    assert response.status_code == 200


def test_callback_allow_list_admits_named_hosts_and_networks():
    policy = CallbackPolicy(["127.0.0.1", "10.20.0.0/16", "hooks.internal"])

    policy.check_url("http://127.0.0.1:9/x", resolve=True)
    policy.check_url("http://10.20.30.40/x", resolve=True)
    policy.check_url("http://HOOKS.internal/x", resolve=True)
    with pytest.raises(BadCallback):
        policy.check_url("http://10.21.0.1/x", resolve=True)
    with pytest.raises(BadCallback):
        policy.check_url("http://127.0.0.2/x", resolve=True)


def test_callback_host_resolving_inside_is_refused_at_send_time(monkeypatch):
    """DNS may answer differently at send time: every address it gives is checked then."""
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 80)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 80)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    policy = CallbackPolicy([])

    policy.check_url("http://rebinding.example/x", resolve=False)  # what submission checks
    with pytest.raises(BadCallback, match=r"10\.0\.0\.7"):
        policy.check_url("http://rebinding.example/x", resolve=True)


# Callbacks sent by a worker


class Receiver:
    """A local HTTP server that records POSTs and answers each path's scripted statuses."""

    def __init__(self, scripts: dict[str, list[int]]):
        self.scripts = {path: list(statuses) for path, statuses in scripts.items()}
        self.received: list[tuple[str, dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                path = self.path.split("?")[0]
                receiver.received.append((path, dict(self.headers), body))
                statuses = receiver.scripts.get(path, [404])
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def posts_to(self, path: str) -> list[tuple[dict, bytes]]:
        return [(headers, body) for got, headers, body in self.received if got == path]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_callback_refused_address_is_not_contacted():
    with Receiver({"/hook": [200]}) as receiver:
        problem = send_callback(
            receiver.url("/hook"),
            {"hash": "x"},
            timeout_s=2,
            attempts=3,
            secret="",
            policy=CallbackPolicy([]),
        )

    assert "private, loopback" in problem
    assert receiver.received == []


def test_worker_signs_retries_and_records_callbacks(settings, redis_client, storage, start_worker):
    app = create_app(replace(settings, callback_allow_hosts="127.0.0.1"))
    client = app.test_client()
    with Receiver({"/flaky": [500, 503, 200], "/down": [500], "/gone": [410]}) as receiver:
        ids = {}
        for seed, path in enumerate(("/flaky", "/down", "/gone")):
            callback = {"url": receiver.url(path) + "?token=hook-token", "data": {"user": seed}}
            ids[path] = submit(client, "", make_mp3(1.0, seed=seed), callback=callback)
        worker = start_worker(
            CALLBACK_ALLOW_HOSTS="127.0.0.1",
            CALLBACK_SECRET=CALLBACK_SECRET,
            CALLBACK_ATTEMPTS="3",
        )
        ended = {path: wait_for(client, job_id) for path, job_id in ids.items()}
        # The record of a failed callback is written after the job is done.
        time.sleep(1)
        ended = {path: client.get(f"/apiv1/status/{i}").get_json() for path, i in ids.items()}

    assert all(status["state"] == "done" for status in ended.values()), ended
    flaky = receiver.posts_to("/flaky")
    assert len(flaky) == 3  # two 5xx answers, then a 200
    assert ended["/flaky"]["callback_error"] == ""
    headers, body = flaky[-1]
    expected = hmac.new(
        CALLBACK_SECRET.encode(), headers[TIMESTAMP_HEADER].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers[SIGNATURE_HEADER] == "sha256=" + expected
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 300
    payload = json.loads(body)
    assert payload == {
        "hash": ids["/flaky"],
        "status": "done",
        "tracks": ended["/flaky"]["tracks"],
        "data": {"user": 0},
    }

    assert len(receiver.posts_to("/down")) == 3
    assert "after 3 attempts" in ended["/down"]["callback_error"]
    assert "HTTP 500" in ended["/down"]["callback_error"]
    assert len(receiver.posts_to("/gone")) == 1  # a 4xx is not retried
    assert "HTTP 410" in ended["/gone"]["callback_error"]

    log = worker.log_path.read_text()
    for secret in (CALLBACK_SECRET, "hook-token", SECRET_KEY):
        assert secret not in log


# Rate limits


@pytest.fixture
def limited_settings(settings, redis_client):
    return replace(settings, rate_limit="3/minute", api_keys=f"{KEY_A},{KEY_B}")


def test_rate_limit_answers_429_json_after_the_limit(limited_settings, storage):
    client = create_app(limited_settings).test_client()

    paths = ["/apiv1/queue", "/apiv1/status/" + "0" * 64, "/apiv1/queue", "/apiv1/queue"]
    answers = [client.get(path, headers=bearer(KEY_A)) for path in paths]

    assert [a.status_code for a in answers] == [200, 404, 200, 429]
    assert "too many requests" in answers[-1].get_json()["error"]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert client.get("/apiv1/queue", headers=bearer(KEY_B)).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_rate_limit_is_shared_by_every_process_through_redis(
    limited_settings, storage, redis_client
):
    first = create_app(limited_settings).test_client()
    second = create_app(limited_settings).test_client()

    statuses = [
        app.get("/apiv1/queue", headers=bearer(KEY_A)).status_code
        for app in (first, second, first, second)
    ]

    assert statuses == [200, 200, 200, 429]
    assert redis_client.keys("*msaas-limits*")


def test_rate_limit_counts_unknown_tokens_by_address(limited_settings, storage):
    client = create_app(limited_settings).test_client()

    statuses = [
        client.get("/apiv1/queue", headers=bearer(f"made-up-{i}")).status_code for i in range(4)
    ]

    assert statuses == [401, 401, 401, 429]


# Logs


def test_rest_logs_hold_no_keys_or_callback_urls(keyed_client, caplog, storage, redis_client):
    caplog.set_level(logging.DEBUG)
    url = "https://hooks.example.org/x?token=hook-token"

    job_id = submit(keyed_client, KEY_A, callback={"url": url})
    keyed_client.get(f"/apiv1/status/{job_id}", headers=bearer(KEY_A))
    keyed_client.get("/apiv1/queue", headers=bearer("wrong-key"))
    storage.delete_song(job_id)

    assert "queued" in caplog.text
    for secret in (KEY_A, "wrong-key", "hook-token", SECRET_KEY):
        assert secret not in caplog.text
