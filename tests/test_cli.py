"""The msaas command against a real server over HTTP, with a real worker behind it."""

import dataclasses
import io

import pytest
import sphn
from click.testing import CliRunner

from cli.main import main
from msaas.audio import SAMPLE_RATE_HZ
from rest import create_app
from tests.conftest import serve_app
from tests.songs import make_mp3

FOUR_STEMS = {"drums.mp3", "bass.mp3", "other.mp3", "vocals.mp3"}


@pytest.fixture
def song(tmp_path):
    path = tmp_path / "song.mp3"
    path.write_bytes(make_mp3(2.0, seed=7))
    return path


def msaas(url: str, *args: str, **env: str):
    """Run `msaas --url URL ARGS...` in-process; return click's result."""
    return CliRunner(env=env).invoke(main, ["--url", url, *map(str, args)])


def duration_s(path) -> float:
    wav, rate = sphn.read(str(path))
    assert rate == SAMPLE_RATE_HZ
    return wav.shape[-1] / rate


def test_separate_writes_stems_then_status_get_and_rm(live_server, start_worker, song, tmp_path):
    start_worker()
    out = tmp_path / "out"

    four = msaas(live_server, "separate", song, "-o", out)
    karaoke = msaas(live_server, "separate", song, "--stems", "vocals", "-o", out / "karaoke")

    assert four.exit_code == 0, four.output
    assert {path.name for path in (out / "song").iterdir()} == FOUR_STEMS
    for path in (out / "song").iterdir():
        assert abs(duration_s(path) - 2.0) < 0.1
    assert "song.mp3: done" in four.stderr
    assert karaoke.exit_code == 0, karaoke.output
    assert {p.name for p in (out / "karaoke" / "song").iterdir()} == {"vocals.mp3", "no_vocals.mp3"}

    job_id = four.stdout.split()[0]
    status = msaas(live_server, "status", job_id)
    assert status.exit_code == 0
    assert "state: done" in status.stdout
    got = msaas(live_server, "get", job_id, "vocals", "-o", tmp_path / "got")
    assert got.exit_code == 0, got.output
    assert [path.name for path in (tmp_path / "got").iterdir()] == ["vocals.mp3"]
    removed = msaas(live_server, "rm", job_id)
    assert removed.exit_code == 0, removed.output
    assert removed.stdout.count("removed ") == 4
    gone = msaas(live_server, "status", job_id)
    assert gone.exit_code == 1
    assert "404" in gone.stderr


def test_queue_lists_waiting_jobs_in_order(live_server, client):
    ids = [
        client.post("/apiv1/separate", data={"mp3": (song_bytes(seed), "s.mp3")}).get_json()["hash"]
        for seed in (1, 2)
    ]

    result = msaas(live_server, "queue")

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [f"1\t{ids[0]}", f"2\t{ids[1]}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("separate", "{song}", "--shifts", "99"), '"shifts" must be a whole number from 1 to 5'),
        (("separate", "{song}", "--format", "ogg"), "Invalid value for '--format'"),
        (("status", "0" * 64), "404 from the server: no job with id"),
        (("get", "nope"), "404 from the server"),
    ],
)
def test_errors_are_one_line_with_a_nonzero_exit(live_server, song, args, message):
    result = msaas(live_server, *(arg.format(song=song) for arg in args))

    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_server_is_one_clear_line(song):
    result = msaas("http://127.0.0.1:9", "separate", song)

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: cannot reach MSaaS at http://127.0.0.1:9; is it running? (set --url or MSAAS_URL)"
    )
    assert result.stderr.count("Error") == 1


def test_api_key_comes_from_the_environment(settings, redis_client, storage):
    locked = create_app(dataclasses.replace(settings, api_keys="cli-test-key"))

    with serve_app(locked) as url:
        refused = msaas(url, "queue")
        allowed = msaas(url, "queue", MSAAS_API_KEY="cli-test-key")

    assert refused.exit_code == 1
    assert "401 from the server" in refused.stderr
    assert allowed.exit_code == 0, allowed.output


def song_bytes(seed: int) -> io.BytesIO:
    return io.BytesIO(make_mp3(1.0, seed=seed))
