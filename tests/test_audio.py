"""Audio that must work: odd rates, mono, VBR, big tags, tiny clips, silence, many channels."""

import base64
import io

import numpy as np
import pytest
import soundfile
import sphn

from msaas import audio
from msaas.audio import SAMPLE_RATE_HZ
from msaas.errors import BadAudio
from tests.calls import wait_for
from tests.songs import (
    add_id3_cover,
    add_xing_header,
    encode_mp3,
    encode_vbr_mp3,
    make_mp3,
    synth_music,
)

STEMS = {"bass", "drums", "vocals", "other"}
# MP3 frames and the encoder's delay make a decoded file a little longer than its source.
LENGTH_TOLERANCE_S = 0.1
COVER_BYTES = 1_000_000


def decoded_seconds(data: bytes, tmp_path) -> float:
    """The length of `data` once decoded the way the worker decodes it."""
    path = tmp_path / "song"
    path.write_bytes(data)
    wav = audio.decode(path, max_duration_s=60)
    return wav.shape[-1] / SAMPLE_RATE_HZ


def decode_checked(data: bytes, tmp_path) -> np.ndarray:
    """Decode `data` as the worker does and check what every song must give."""
    path = tmp_path / "song"
    path.write_bytes(data)
    wav = audio.decode(path, max_duration_s=60)
    assert wav.dtype == np.float32
    assert wav.shape[0] == 2
    assert np.isfinite(wav).all()
    return wav


def sound_file(wav: np.ndarray, file_format: str, sample_rate: int = SAMPLE_RATE_HZ) -> bytes:
    """Write float (channels, samples) audio as WAV, FLAC or OGG bytes with libsndfile."""
    buffer = io.BytesIO()
    soundfile.write(buffer, wav.T, sample_rate, format=file_format)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("sample_rate", "bitrate_kbps"), [(8000, 32), (22_050, 96), (32_000, 128), (48_000, 128)]
)
def test_decode_resamples_to_44k_keeping_the_length(tmp_path, sample_rate, bitrate_kbps):
    song = make_mp3(2.0, sample_rate=sample_rate, bitrate_kbps=bitrate_kbps)

    info = audio.probe(song, max_duration_s=60)
    wav = decode_checked(song, tmp_path)
    native, native_rate = sphn.read(str(tmp_path / "song"))

    assert info.sample_rate == native_rate == sample_rate
    # The encoder pads a little; the resampled song keeps the length of what was encoded.
    assert abs(wav.shape[-1] / SAMPLE_RATE_HZ - native.shape[-1] / native_rate) < 0.06
    assert abs(wav.shape[-1] / SAMPLE_RATE_HZ - 2.0) < 0.25
    assert np.abs(wav).max() > 0.1


def test_decode_copies_mono_to_both_channels(tmp_path):
    song = make_mp3(2.0, channels=1)

    wav = decode_checked(song, tmp_path)

    assert audio.probe(song, 60).channels == 1
    np.testing.assert_array_equal(wav[0], wav[1])


@pytest.mark.parametrize("sample_rate", [44_100, 48_000])
def test_vbr_with_xing_header_has_its_true_duration(tmp_path, sample_rate):
    vbr = encode_vbr_mp3(synth_music(5.0, sample_rate=sample_rate), sample_rate)
    with_header = add_xing_header(vbr)

    guessed = audio.probe(vbr, 60).duration_s
    told = audio.probe(with_header, 60).duration_s
    decoded = decode_checked(with_header, tmp_path).shape[-1] / SAMPLE_RATE_HZ

    # Without the header the duration is guessed from the first frame and comes out wrong.
    assert abs(guessed - decoded) > 0.5
    assert abs(told - decoded) < LENGTH_TOLERANCE_S
    assert abs(decoded - 5.0) < LENGTH_TOLERANCE_S


def test_id3_tag_with_large_cover_art_is_skipped(tmp_path):
    song = make_mp3(2.0)
    tagged = add_id3_cover(song, COVER_BYTES, tmp_path)

    info = audio.probe(tagged, 60)
    wav = decode_checked(tagged, tmp_path)

    assert len(tagged) > COVER_BYTES
    assert abs(info.duration_s - 2.0) < LENGTH_TOLERANCE_S
    assert abs(wav.shape[-1] / SAMPLE_RATE_HZ - decoded_seconds(song, tmp_path)) < 0.001


@pytest.mark.parametrize("seconds", [0.05, 0.3, 0.9])
def test_clip_under_one_second_decodes(tmp_path, seconds):
    song = make_mp3(seconds)

    audio.probe(song, 60)
    wav = decode_checked(song, tmp_path)

    assert abs(wav.shape[-1] / SAMPLE_RATE_HZ - seconds) < LENGTH_TOLERANCE_S


def test_digital_silence_decodes_to_zeros(tmp_path):
    song = encode_mp3(np.zeros((2, SAMPLE_RATE_HZ), dtype=np.float32))

    wav = decode_checked(song, tmp_path)

    assert np.abs(wav).max() == 0
    assert abs(wav.shape[-1] / SAMPLE_RATE_HZ - 1.0) < LENGTH_TOLERANCE_S


@pytest.mark.parametrize(("file_format", "channels"), [("WAV", 6), ("FLAC", 6), ("OGG", 4)])
def test_more_than_two_channels_are_mixed_down_not_cut(tmp_path, file_format, channels):
    source = synth_music(1.0, channels=channels)
    source[:2] = 0  # all the sound is in channels a cut to two would drop

    wav = decode_checked(sound_file(source, file_format), tmp_path)

    assert audio.probe(sound_file(source, file_format), 60).channels == channels
    expected = source.mean(axis=0)
    assert abs(wav.shape[-1] - expected.size) / SAMPLE_RATE_HZ < LENGTH_TOLERANCE_S
    n = min(wav.shape[-1], expected.size)
    assert np.corrcoef(wav[0, :n], expected[:n])[0, 1] > 0.99
    if file_format != "OGG":  # Vorbis is lossy
        assert np.abs(wav[0, :n] - expected[:n]).max() < 1e-3
    np.testing.assert_array_equal(wav[0], wav[1])


def test_to_stereo_averages_every_channel():
    wav = np.arange(12, dtype=np.float32).reshape(3, 4)

    stereo = audio.to_stereo(wav)

    np.testing.assert_allclose(stereo, [[4, 5, 6, 7], [4, 5, 6, 7]])


def test_truncated_mp3_decodes_as_far_as_it_goes(tmp_path):
    song = make_mp3(4.0)

    wav = decode_checked(song[: len(song) // 2], tmp_path)

    assert abs(wav.shape[-1] / SAMPLE_RATE_HZ - 2.0) < 0.2


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, this is a text file\n" * 40, bytes(range(256)) * 40, b"ID3" + bytes(2000)],
    ids=["empty", "text", "random", "tag-only"],
)
def test_probe_refuses_what_is_not_audio(data):
    with pytest.raises(BadAudio):
        audio.probe(data, 60)


# Songs a worker must turn into four finite stems as long as the song.
WORKER_CASES = {
    "silence": encode_mp3(np.zeros((2, 2 * SAMPLE_RATE_HZ), dtype=np.float32)),
    "short-clip": make_mp3(0.3),
    "mono-8k": make_mp3(1.5, sample_rate=8000, channels=1, bitrate_kbps=32),
    "flac-6-channels": sound_file(synth_music(1.5, channels=6), "FLAC"),
}


def test_worker_gives_finite_stems_of_the_right_length(client, start_worker, tmp_path):
    lengths = {name: decoded_seconds(song, tmp_path) for name, song in WORKER_CASES.items()}
    ids = {}
    for name, song in WORKER_CASES.items():
        response = client.post("/apiv1/separate", json={"mp3": base64.b64encode(song).decode()})
        assert response.status_code == 200, (name, response.get_json())
        ids[name] = response.get_json()["hash"]
    start_worker()

    for name, job_id in ids.items():
        status = wait_for(client, job_id)
        assert status["state"] == "done", (name, status)
        assert set(status["tracks"]) == STEMS, name
        for stem in STEMS:
            response = client.get(f"/apiv1/track/{job_id}/{stem}")
            assert response.status_code == 200, (name, stem)
            wav = decode_checked(response.data, tmp_path)
            seconds = wav.shape[-1] / SAMPLE_RATE_HZ
            assert abs(seconds - lengths[name]) < LENGTH_TOLERANCE_S, (name, stem, seconds)
