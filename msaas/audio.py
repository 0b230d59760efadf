"""Reading songs: a cheap check for the frontend and the full decode for the worker."""

import os
import tempfile
from dataclasses import dataclass

import numpy as np
import soundfile
import sphn

from msaas.errors import BadAudio

# How much of an upload the frontend decodes to tell audio from other bytes.
PROBE_DECODE_S = 1.0
SAMPLE_RATE_HZ = 44_100
CHANNELS = 2


@dataclass(frozen=True)
class AudioInfo:
    """What the frontend learns of an upload without decoding all of it."""

    duration_s: float
    sample_rate: int
    channels: int


def probe(data: bytes, max_duration_s: float) -> AudioInfo:
    """Check that `data` is audio we can decode and not longer than `max_duration_s`.

    Raises:
        BadAudio: the bytes do not decode, hold no samples, or last too long.
    """
    if not data:
        raise BadAudio("the file is empty; send an MP3 file")
    with tempfile.NamedTemporaryFile(prefix="msaas-probe-") as file:
        file.write(data)
        file.flush()
        start, sample_rate = _read(file.name, duration_s=PROBE_DECODE_S)
        (duration_s,) = sphn.durations([file.name])

    if start.shape[-1] == 0:
        raise BadAudio("the file holds no audio samples")
    # Headers can be missing; the worker still enforces the limit on what it decodes.
    duration_s = float(duration_s) if duration_s is not None else 0.0
    if duration_s > max_duration_s:
        raise BadAudio(f"the song lasts {duration_s:.0f} s; the limit is {max_duration_s:.0f} s")
    return AudioInfo(duration_s, int(sample_rate), int(start.shape[0]))


def decode(path: str | os.PathLike, max_duration_s: float) -> np.ndarray:
    """Decode a song to float32 stereo at 44.1 kHz, shaped (2, samples).

    Mono is copied to both channels; more than two channels are mixed down, not cut.

    Raises:
        BadAudio: the file does not decode, is empty, or lasts longer than `max_duration_s`.
    """
    # Reading a little past the limit tells "too long" from "exactly at the limit"
    # without ever holding a longer song in memory.
    wav, _ = _read(path, duration_s=max_duration_s + 1, sample_rate=SAMPLE_RATE_HZ)

    if wav.shape[-1] == 0:
        raise BadAudio("the file holds no audio samples")
    if wav.shape[-1] > max_duration_s * SAMPLE_RATE_HZ:
        raise BadAudio(f"the song is longer than the limit of {max_duration_s:.0f} s")
    return to_stereo(wav)


def to_stereo(wav: np.ndarray) -> np.ndarray:
    """Return `wav` (channels, samples) with exactly two channels."""
    channels = wav.shape[0]
    if channels == CHANNELS:
        return wav
    mono = wav[0] if channels == 1 else wav.mean(axis=0, dtype=np.float32)
    return np.stack([mono, mono])


def _read(path, duration_s: float, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode with sphn, else with libsndfile; errors become BadAudio."""
    try:
        wav, rate = sphn.read(str(path), duration_sec=duration_s, sample_rate=sample_rate)
    except (ValueError, OSError) as error:
        # sphn cannot size an MP3 of a few frames (a clip under half a second); libsndfile can.
        try:
            wav, rate = _read_with_libsndfile(path, duration_s, sample_rate)
        except (soundfile.SoundFileError, ValueError, OSError):
            # The decoder's message starts with the (temporary) file name; keep only its reason.
            reason = str(error).split(": ", 1)[-1]
            raise BadAudio(f"the file is not audio we can decode ({reason})") from error
    return np.asarray(wav, dtype=np.float32), rate


def _read_with_libsndfile(
    path, duration_s: float, sample_rate: int | None
) -> tuple[np.ndarray, int]:
    """Read at most `duration_s` of a file with libsndfile, resampled to `sample_rate`."""
    with soundfile.SoundFile(str(path)) as file:
        rate = file.samplerate
        wav = file.read(frames=int(duration_s * rate), dtype="float32", always_2d=True).T
    if sample_rate and sample_rate != rate:
        wav = sphn.resample(wav, src_sample_rate=rate, dst_sample_rate=sample_rate)
        rate = sample_rate
    return wav, rate
