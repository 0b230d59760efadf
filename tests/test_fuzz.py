"""Fuzzing the API with generated requests: whatever arrives, the answer is JSON and never 5xx."""

import base64
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.songs import make_mp3

EXAMPLES = 300
SONG_B64 = base64.b64encode(make_mp3(0.5)).decode()
ID = "0" * 64

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
segments = st.sampled_from(
    ["separate", "queue", "status", "track", "remove", "openapi.json", "..", "%2F", ID, ""]
) | st.text(st.characters(codec="ascii", exclude_characters="?#/"), max_size=20)
paths = st.lists(segments, min_size=1, max_size=4).map(lambda parts: "/apiv1/" + "/".join(parts))
mp3_fields = st.one_of(
    json_values,
    st.binary(max_size=300).map(lambda data: base64.b64encode(data).decode()),
    st.just(SONG_B64),
    st.just("data:audio/mpeg;base64," + SONG_B64),
)
separate_bodies = st.fixed_dictionaries(
    {"mp3": mp3_fields},
    optional={
        "model": json_values | st.sampled_from(["tiny", "htdemucs", "../x", "tiny;ls"]),
        "callback": json_values
        | st.fixed_dictionaries({"url": st.text(max_size=40) | st.just("http://10.0.0.1/")}),
        "stems": json_values,
        "format": json_values,
        "bitrate": json_values,
        "shifts": json_values,
        "overlap": json_values,
    },
)
content_types = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "",
    ]
)


def assert_clean(response) -> None:
    """No server error, and an error answer is JSON with a message."""
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    if response.status_code >= 400:
        assert response.is_json, response.get_data()[:300]
        assert response.get_json()["error"]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=separate_bodies)
def test_fuzz_separate_bodies_never_5xx(client, body):
    assert_clean(
        client.post("/apiv1/separate", data=json.dumps(body), content_type="application/json")
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]),
    path=paths,
    content_type=content_types,
    body=st.binary(max_size=200) | json_values.map(lambda value: json.dumps(value).encode()),
    authorization=st.none()
    | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)
def test_fuzz_any_request_never_5xx(client, method, path, content_type, body, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = client.open(
        path, method=method, data=body, content_type=content_type, headers=headers
    )

    if method == "HEAD":
        assert response.status_code < 500
    else:
        assert_clean(response)
