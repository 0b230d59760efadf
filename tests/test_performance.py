"""The worker's fast paths give the same results as Demucs' own, and say where time went."""

import random

import pytest
import torch
from demucs.audio import save_audio

from msaas.audio import SAMPLE_RATE_HZ
from tests.calls import submit, wait_for
from tests.songs import make_mp3, synth_music
from worker import separation
from worker.stems import ENCODE_SLICE_S, write_mp3
from worker.timings import PHASES


@pytest.fixture(scope="module")
def tiny_separator(model_repo):
    """The tiny model, loaded once for this module."""
    return separation.load_separator("tiny", str(model_repo), "cpu")


def test_mp3_stem_is_the_file_demucs_writes(tmp_path):
    # Louder than full scale, so that the rescaling matters, and longer than one slice.
    generator = torch.Generator().manual_seed(0)
    seconds = ENCODE_SLICE_S + 1.5
    stem = 1.7 * torch.randn(2, int(seconds * SAMPLE_RATE_HZ), generator=generator).tanh()
    theirs = tmp_path / "demucs.mp3"
    save_audio(stem.clone(), theirs, samplerate=SAMPLE_RATE_HZ, bitrate=320, clip="rescale")

    ours = write_mp3(stem, tmp_path / "ours.mp3", 320)

    assert ours.read_bytes() == theirs.read_bytes()


def test_separate_gives_the_stems_of_demucs_separate_tensor(tiny_separator):
    wav = synth_music(9.0)
    expected_input = torch.from_numpy(wav.copy())
    tiny_separator.update_parameter(shifts=1, overlap=0.25, callback=None)
    random.seed(7)  # Demucs draws the time shift with `random`
    _, expected = tiny_separator.separate_tensor(expected_input)

    random.seed(7)
    stems = separation.separate(tiny_separator, wav, lambda percent: None)

    assert list(stems) == list(expected)
    for name, stem in stems.items():
        assert torch.allclose(stem, expected[name], atol=1e-5), name


def test_done_job_says_how_long_each_phase_took(client, start_worker):
    start_worker()

    job_id = submit(client, make_mp3(2.0, seed=61))
    status = wait_for(client, job_id)

    assert status["state"] == "done", status
    timings = status["timings"]
    assert set(timings) == {f"{phase}_s" for phase in PHASES}
    assert all(seconds >= 0 for seconds in timings.values())
    assert timings["separate_s"] > 0
    assert sum(timings.values()) < 120
