"""Writing separated stems to audio files."""

from pathlib import Path

import torch
from demucs.audio import save_audio

from msaas.audio import SAMPLE_RATE_HZ

# LAME's quality preset: 2 is its best and slowest, the one the Demucs CLI uses.
MP3_PRESET = 2


def write_mp3(wav: torch.Tensor, path: Path, bitrate_kbps: int) -> Path:
    """Encode one stem (channels, samples) to an MP3 file, rescaled rather than clipped."""
    save_audio(
        wav,
        path,
        samplerate=SAMPLE_RATE_HZ,
        bitrate=bitrate_kbps,
        clip="rescale",
        preset=MP3_PRESET,
    )
    return path
