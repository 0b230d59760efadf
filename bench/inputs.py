"""Songs for the benchmark: real music from ../shared/media when present, else synthetic.

Longer inputs are the music looped; every song is written as a fresh MP3 into a temporary
folder, so nothing here is ever committed.
"""

from pathlib import Path

import numpy as np
import sphn

from msaas.audio import SAMPLE_RATE_HZ
from tests.songs import encode_mp3, synth_music

MEDIA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "media"
# The longest piece first: looping it repeats the least.
MEDIA_FILES = ("fishin-full.mp3", "fishin-30s.mp3", "vibeace-10s.mp3")
# The bitrate of the inputs, a common one for downloaded music.
INPUT_BITRATE_KBPS = 192


def load_music(max_s: float) -> tuple[np.ndarray, str]:
    """Up to `max_s` of stereo music at 44.1 kHz, and where it came from."""
    for name in MEDIA_FILES:
        path = MEDIA_DIR / name
        if path.exists():
            wav, _ = sphn.read(str(path), duration_sec=max_s, sample_rate=SAMPLE_RATE_HZ)
            wav = np.asarray(wav, dtype=np.float32)
            if wav.shape[0] == 1:
                wav = np.concatenate([wav, wav])
            return wav[:2], f"{name} (real music)"
    return synth_music(min(max_s, 60)), "synthetic music (tests/songs.py)"


def cut(music: np.ndarray, seconds: float, offset_s: float = 0.0) -> np.ndarray:
    """`seconds` of `music` starting at `offset_s`, looping around its end."""
    length = int(seconds * SAMPLE_RATE_HZ)
    start = int(offset_s * SAMPLE_RATE_HZ) % music.shape[-1]
    indices = (start + np.arange(length)) % music.shape[-1]
    return music[:, indices]


def write_song(music: np.ndarray, seconds: float, path: Path, offset_s: float = 0.0) -> Path:
    """Write `seconds` of `music` from `offset_s` as an MP3 file at `path`."""
    path.write_bytes(encode_mp3(cut(music, seconds, offset_s), bitrate_kbps=INPUT_BITRATE_KBPS))
    return path
