"""Synthetic songs for the tests: a bass line, chords and drums, through a real MP3 encoder."""

import lameenc
import numpy as np

from msaas.audio import SAMPLE_RATE_HZ


def synth_music(
    seconds: float, sample_rate: int = SAMPLE_RATE_HZ, channels: int = 2, seed: int = 0
) -> np.ndarray:
    """A short piece of music as float32 (channels, samples), peaks below 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    beat = (t * 2) % 1.0  # two beats a second
    bass = 0.3 * np.sin(2 * np.pi * 55 * t * (1 + (np.floor(t) % 2) * 0.5))
    chords = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))
    kick = 0.5 * np.sin(2 * np.pi * 60 * t) * np.exp(-beat * 30)
    hats = 0.05 * rng.standard_normal(t.size) * np.exp(-((t * 4) % 1.0) * 60)
    mix = bass + chords + kick + hats
    spread = [mix * (1.0 - 0.2 * c) + 0.05 * chords * c for c in range(channels)]
    return np.stack(spread).astype(np.float32)


def encode_mp3(
    wav: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ, bitrate_kbps: int = 128
) -> bytes:
    """Encode float (channels, samples) audio, mono or stereo, to MP3 bytes with LAME."""
    channels = wav.shape[0]
    pcm = (np.clip(wav, -1, 1) * 32767).astype("<i2").T.copy()
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(channels)
    encoder.set_quality(5)
    encoder.silence()
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


def make_mp3(
    seconds: float,
    sample_rate: int = SAMPLE_RATE_HZ,
    channels: int = 2,
    seed: int = 0,
    bitrate_kbps: int = 128,
) -> bytes:
    """A synthetic song of `seconds` as MP3 bytes; a different seed gives a different song."""
    return encode_mp3(synth_music(seconds, sample_rate, channels, seed), sample_rate, bitrate_kbps)
