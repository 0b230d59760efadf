"""Separation options: checked per model by the API, part of the job id, applied by the worker."""

import hashlib
import io
import json

import numpy as np
import pytest
import soundfile

from msaas import jobs
from msaas.errors import BadOption
from msaas.options import Options, check_sources, parse_options
from tests.calls import post_form, wait_for
from tests.songs import make_mp3

SONG = make_mp3(2.0)


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        ("htdemucs", {}, Options("htdemucs")),
        ("htdemucs", {"stems": "all"}, Options("htdemucs")),
        ("htdemucs", {"stems": "vocals", "format": "WAV"}, Options("htdemucs", "vocals", "wav")),
        ("htdemucs_6s", {"stems": "guitar"}, Options("htdemucs_6s", stems="guitar")),
        ("htdemucs", {"bitrate": "192", "shifts": 2}, Options("htdemucs", bitrate=192, shifts=2)),
        ("htdemucs", {"overlap": "0.5"}, Options("htdemucs", overlap=0.5)),
        ("tiny", {"stems": "piano"}, Options("tiny", stems="piano")),
    ],
)
def test_parse_options_accepts_valid_fields(model, fields, expected):
    assert parse_options(model, fields) == expected


@pytest.mark.parametrize(
    ("model", "fields", "named"),
    [
        ("htdemucs", {"stems": "guitar"}, "stems"),
        ("htdemucs", {"stems": "kazoo"}, "stems"),
        ("tiny", {"stems": "kazoo"}, "stems"),
        ("htdemucs", {"format": "ogg"}, "format"),
        ("htdemucs", {"bitrate": 100}, "bitrate"),
        ("htdemucs", {"bitrate": 999}, "bitrate"),
        ("htdemucs", {"shifts": 0}, "shifts"),
        ("htdemucs", {"shifts": 50}, "shifts"),
        ("htdemucs", {"shifts": True}, "shifts"),
        ("htdemucs", {"shifts": "two"}, "shifts"),
        ("htdemucs", {"overlap": 0.9}, "overlap"),
        ("htdemucs", {"overlap": -0.1}, "overlap"),
        ("htdemucs", {"overlap": [0.5]}, "overlap"),
    ],
)
def test_parse_options_refuses_bad_fields_and_names_them(model, fields, named):
    with pytest.raises(BadOption, match=f'"{named}"'):
        parse_options(model, fields)


def test_default_options_keep_the_id_older_versions_gave():
    options = parse_options("tiny", {"format": "mp3", "stems": "all", "shifts": 1})

    legacy = hashlib.sha256(hashlib.sha256(SONG).digest())
    legacy.update(json.dumps({"model": "tiny"}, sort_keys=True).encode())
    assert jobs.compute_job_id(SONG, options.identity()) == legacy.hexdigest()


def test_check_sources_names_the_stems_the_model_has():
    with pytest.raises(BadOption, match="drums, bass, other, vocals"):
        check_sources(Options("tiny", stems="guitar"), ["drums", "bass", "other", "vocals"])


def test_separate_options_are_part_of_the_id(client):
    plain = post_form(client, SONG).get_json()["hash"]
    karaoke = post_form(client, SONG, stems="vocals").get_json()["hash"]
    wav = post_form(client, SONG, format="wav").get_json()["hash"]
    explicit_defaults = post_form(client, SONG, format="mp3", stems="all").get_json()["hash"]

    assert len({plain, karaoke, wav}) == 3
    assert explicit_defaults == plain
    status = client.get(f"/apiv1/status/{karaoke}").get_json()
    assert status["options"]["stems"] == "vocals"


@pytest.mark.parametrize(
    "fields",
    [{"stems": "kazoo"}, {"format": "ogg"}, {"shifts": "99"}, {"overlap": "lots"}],
)
def test_separate_bad_option_is_400_and_queues_nothing(client, fields):
    response = post_form(client, SONG, **fields)

    assert response.status_code == 400
    assert next(iter(fields)) in response.get_json()["error"]
    assert client.get("/apiv1/queue").get_json() == {"queue": []}


def test_options_change_the_stems_and_their_format(client, start_worker):
    start_worker()
    song = make_mp3(2.0, seed=3)
    karaoke = post_form(client, song, stems="vocals", format="wav").get_json()["hash"]
    flac = post_form(client, song, format="flac", shifts="2").get_json()["hash"]
    guitar = post_form(client, song, stems="guitar").get_json()["hash"]

    karaoke_status = wait_for(client, karaoke)
    flac_status = wait_for(client, flac)
    guitar_status = wait_for(client, guitar)

    assert karaoke_status["state"] == "done", karaoke_status
    assert karaoke_status["tracks"] == ["vocals", "no_vocals"]
    stems = {}
    for track in ("vocals", "no_vocals.wav"):
        response = client.get(f"/apiv1/track/{karaoke}/{track}")
        assert response.status_code == 200
        assert response.mimetype == "audio/wav"
        stems[track], rate = soundfile.read(io.BytesIO(response.data))
        assert rate == 44_100
        assert abs(len(stems[track]) / rate - 2.0) < 0.1
    assert np.abs(stems["no_vocals.wav"]).max() > 0

    assert flac_status["state"] == "done", flac_status
    assert set(flac_status["tracks"]) == {"drums", "bass", "other", "vocals"}
    response = client.get(f"/apiv1/track/{flac}/drums.flac")
    assert response.mimetype == "audio/flac"
    wav, rate = soundfile.read(io.BytesIO(response.data))
    assert wav.shape[1] == 2 and abs(len(wav) / rate - 2.0) < 0.1

    # The tiny model has four sources: a guitar stem fails at once, with the reason.
    assert guitar_status["state"] == "failed"
    assert 'no stem "guitar"' in guitar_status["reason"]
    assert guitar_status["attempts"] == 1
