"""Synthetic songs for the tests: a bass line, chords and drums, through a real MP3 encoder."""

import lameenc
import numpy as np
from mutagen import id3

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


def encode_vbr_mp3(wav: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ, quality: int = 4) -> bytes:
    """Encode float (channels, samples) audio to variable-bitrate MP3 bytes, without a header."""
    pcm = (np.clip(wav, -1, 1) * 32767).astype("<i2").T.copy()
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(wav.shape[0])
    encoder.set_vbr(4)
    encoder.set_vbr_quality(quality)
    encoder.set_quality(5)
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


# MPEG-1 Layer III: kbit/s by bitrate index, Hz by sample-rate index.
_MPEG1_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG1_RATES = (44_100, 48_000, 32_000)
_XING_FRAME_BITRATE_INDEX = 9  # 128 kbit/s: room enough for the header


def _frame_length(header: bytes) -> int:
    bitrate = _MPEG1_BITRATES[header[2] >> 4] * 1000
    rate = _MPEG1_RATES[(header[2] >> 2) & 3]
    return 144 * bitrate // rate + ((header[2] >> 1) & 1)


def add_xing_header(mp3: bytes) -> bytes:
    """Put a Xing frame (frame and byte counts) before MPEG-1 Layer III frames, as LAME does.

    Players read a VBR file's duration from this frame instead of guessing it from the first
    frame's bitrate.
    """
    assert mp3[0] == 0xFF and mp3[1] & 0xFE == 0xFA, "expects MPEG-1 Layer III frames"
    frames, offset = 0, 0
    while offset + 4 <= len(mp3) and mp3[offset] == 0xFF:
        offset += _frame_length(mp3[offset : offset + 4])
        frames += 1

    header = bytearray(mp3[:4])
    header[2] = (_XING_FRAME_BITRATE_INDEX << 4) | (header[2] & 0x0C)  # no padding
    size = _frame_length(bytes(header))
    side_info = 17 if header[3] >> 6 == 3 else 32  # mono : stereo
    frame = bytearray(size)
    frame[:4] = header
    xing = b"Xing" + (3).to_bytes(4, "big") + frames.to_bytes(4, "big")
    xing += (size + len(mp3)).to_bytes(4, "big")
    frame[4 + side_info : 4 + side_info + len(xing)] = xing
    return bytes(frame) + mp3


def add_id3_cover(mp3: bytes, cover_bytes: int, folder) -> bytes:
    """Prepend an ID3v2.4 tag with a title and a cover picture of `cover_bytes` bytes."""
    path = folder / "tagged.mp3"
    path.write_bytes(mp3)
    tag = id3.ID3()
    tag.add(id3.TIT2(encoding=3, text="A song with cover art"))
    picture = b"\x89PNG\r\n\x1a\n" + np.random.default_rng(0).bytes(cover_bytes - 8)
    tag.add(id3.APIC(encoding=3, mime="image/png", type=3, desc="cover", data=picture))
    tag.save(path)
    return path.read_bytes()
