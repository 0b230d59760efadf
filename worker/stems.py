"""Writing separated stems to MP3, WAV or FLAC files, a slice at a time."""

from pathlib import Path

import lameenc
import soundfile
import torch

from msaas.audio import SAMPLE_RATE_HZ

# LAME's quality preset: 2 is its best and slowest, the one the Demucs CLI uses.
MP3_PRESET = 2
# TODO(perf): stems are encoded only once the model has finished the whole song, which is most
# of the service's time outside the model; encoding each part as soon as the model's
# overlap-add has finished it would hide that time behind the model on idle cores.
# How much of a stem is turned into 16-bit PCM at once: a few MB, whatever the song's length,
# where converting a whole 10-minute stem would hold several copies of 200 MB.
ENCODE_SLICE_S = 10
# Headroom under full scale when a stem is rescaled, as in Demucs' own writer.
RESCALE_HEADROOM = 1.01
PCM_MAX = 2**15 - 1


def write_mp3(wav: torch.Tensor, path: Path, bitrate_kbps: int) -> Path:
    """Encode one stem (channels, samples) to an MP3 file, rescaled rather than clipped.

    The result matches Demucs' `save_audio(..., clip="rescale", preset=2)`; the stem is read,
    never modified, and never copied whole.
    """
    channels, samples = wav.shape
    # max and min reduce without the full-size temporary that abs() would make.
    peak = max(wav.max().item(), -wav.min().item())
    scale = max(RESCALE_HEADROOM * peak, 1.0)

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(SAMPLE_RATE_HZ)
    encoder.set_channels(channels)
    encoder.set_quality(MP3_PRESET)
    encoder.silence()

    step = ENCODE_SLICE_S * SAMPLE_RATE_HZ
    with path.open("wb") as file:
        for start in range(0, samples, step):
            piece = wav[:, start : start + step]
            pcm = ((piece / scale).clamp_(-1, 1) * PCM_MAX).short()
            file.write(encoder.encode(pcm.t().contiguous().numpy().tobytes()))
        file.write(encoder.flush())
    return path


def write_pcm(wav: torch.Tensor, path: Path, container: str) -> Path:
    """Write one stem as 16-bit WAV or FLAC (libsndfile; Demucs' FLAC writer needs ffmpeg).

    Rescaled rather than clipped like the MP3s, and a slice at a time like them.
    """
    channels, samples = wav.shape
    peak = max(wav.max().item(), -wav.min().item())
    scale = max(RESCALE_HEADROOM * peak, 1.0)

    step = ENCODE_SLICE_S * SAMPLE_RATE_HZ
    with soundfile.SoundFile(
        str(path), "w", SAMPLE_RATE_HZ, channels, subtype="PCM_16", format=container
    ) as file:
        for start in range(0, samples, step):
            piece = (wav[:, start : start + step] / scale).clamp_(-1, 1)
            file.write(piece.t().contiguous().numpy())
    return path


def write_stem(wav: torch.Tensor, path: Path, audio_format: str, bitrate_kbps: int) -> Path:
    """Write one stem in `audio_format` (mp3, wav or flac) to `path`."""
    if audio_format == "wav":
        return write_pcm(wav, path, "WAV")
    if audio_format == "flac":
        return write_pcm(wav, path, "FLAC")
    return write_mp3(wav, path, bitrate_kbps)
