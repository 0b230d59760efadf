"""Calls the tests make of the API: submitting songs and waiting for their jobs."""

import base64
import json
import time

from urllib3 import encode_multipart_formdata

POLL_INTERVAL_S = 0.2


def b64(data: bytes) -> str:
    """Base64 text of `data`, as clients put it in the "mp3" field."""
    return base64.b64encode(data).decode()


def post_json(client, body):
    """POST `body` (an object, or raw text) to /apiv1/separate."""
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post("/apiv1/separate", data=data, content_type="application/json")


def post_form(client, song: bytes, **fields):
    """POST `song` and option fields as a multipart form, the way curl -F does."""
    # Encoded here in memory: the test client would spool a large form to an unclosed file.
    body, content_type = encode_multipart_formdata({"mp3": ("song.mp3", song), **fields})
    return client.post("/apiv1/separate", data=body, content_type=content_type)


def submit(client, song: bytes) -> str:
    """POST a song as base64 JSON; return its job id."""
    response = client.post("/apiv1/separate", json={"mp3": b64(song)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["hash"]


def wait_for(client, job_id: str, states=("done", "failed"), timeout_s: float = 120) -> dict:
    """Poll a job's status until it reaches one of `states`; return that status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(f"/apiv1/status/{job_id}").get_json()
        if status["state"] in states:
            return status
        time.sleep(POLL_INTERVAL_S)
    raise AssertionError(f"job {job_id} still {status['state']} after {timeout_s} s: {status}")


def wait_until(condition, timeout_s: float = 60, what: str = "condition") -> None:
    """Poll `condition()` until it is true; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_INTERVAL_S)
