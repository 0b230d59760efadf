"""Separation options: what a client may ask for, checked once, and part of the job id.

The REST side does not load models, so the sources of the published Demucs models are listed
here. A model outside this table (a local-repo model) is checked by the worker once loaded.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from msaas.errors import BadOption

FOUR_SOURCES = ("drums", "bass", "other", "vocals")
SIX_SOURCES = (*FOUR_SOURCES, "guitar", "piano")

# The sources of each model Demucs publishes, in the order the model writes them.
MODEL_SOURCES = {
    "htdemucs": FOUR_SOURCES,
    "htdemucs_ft": FOUR_SOURCES,
    "htdemucs_6s": SIX_SOURCES,
    "hdemucs_mmi": FOUR_SOURCES,
    "mdx": FOUR_SOURCES,
    "mdx_extra": FOUR_SOURCES,
    "mdx_q": FOUR_SOURCES,
    "mdx_extra_q": FOUR_SOURCES,
}
# Every source some known model writes: what a model outside the table may be asked for.
ALL_SOURCES = SIX_SOURCES

# Two-stem mode writes the stem and its complement, named like this (as the Demucs CLI does).
COMPLEMENT_PREFIX = "no_"

# format -> (file extension, content type)
FORMATS = {
    "mp3": ("mp3", "audio/mpeg"),
    "wav": ("wav", "audio/wav"),
    "flac": ("flac", "audio/flac"),
}
# The bitrates LAME encodes at 44.1 kHz, from the lowest that still sounds like music.
MP3_BITRATES_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
# Each shift is one more full pass of the model: 5 passes is already 5 times the work.
MAX_SHIFTS = 5
DEFAULT_SHIFTS = 1
# Demucs' default overlap between segments; more than 0.75 only multiplies the work.
DEFAULT_OVERLAP = 0.25
MAX_OVERLAP = 0.75

# The request fields that set options, besides "model".
FIELDS = ("stems", "format", "bitrate", "shifts", "overlap")


@dataclass(frozen=True)
class Options:
    """How one song is separated and encoded. `bitrate` 0 means the worker's MP3_BITRATE_KBPS."""

    model: str
    stems: str = ""
    format: str = "mp3"
    bitrate: int = 0
    shifts: int = DEFAULT_SHIFTS
    overlap: float = DEFAULT_OVERLAP

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> "Options":
        """Rebuild options stored on a job; older jobs stored only the model."""
        known = {name: values[name] for name in ("model", *FIELDS) if name in values}
        return cls(**known)

    def as_dict(self) -> dict:
        """Every option, as stored on the job and shown by the status route."""
        return asdict(self)

    def identity(self) -> dict:
        """The options that change the output, for the job id; defaults are left out.

        A request with no options hashes as {"model": ...}, so its id is the one older
        versions gave the same song.
        """
        defaults = Options(model=self.model)
        shown = {
            name: value for name, value in asdict(self).items() if value != getattr(defaults, name)
        }
        if self.format != "mp3":
            shown.pop("bitrate", None)
        return {"model": self.model, **shown}

    @property
    def extension(self) -> str:
        """The file extension of the stems."""
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        """The media type the stems are served with."""
        return FORMATS[self.format][1]

    def tracks(self, sources: tuple[str, ...] | list[str]) -> list[str]:
        """The track names a model with `sources` gives under these options."""
        if self.stems:
            return [self.stems, COMPLEMENT_PREFIX + self.stems]
        return list(sources)


def parse_options(model: str, fields: Mapping[str, object]) -> Options:
    """Check the option fields of a request (JSON values, or form text) for `model`.

    Raises:
        BadOption: a field has a wrong type or a value outside its range; the message says which.
    """
    return Options(
        model=model,
        stems=_parse_stems(model, fields.get("stems")),
        format=_parse_format(fields.get("format")),
        bitrate=_parse_bitrate(fields.get("bitrate")),
        shifts=_parse_int("shifts", fields.get("shifts"), DEFAULT_SHIFTS, 1, MAX_SHIFTS),
        overlap=_parse_overlap(fields.get("overlap")),
    )


def check_sources(options: Options, sources: tuple[str, ...] | list[str]) -> None:
    """Raise BadOption when the loaded model cannot give the stem asked for."""
    if options.stems and options.stems not in sources:
        raise BadOption(
            f'model "{options.model}" has no stem "{options.stems}"; its stems: '
            f"{', '.join(sources)}"
        )


def sources_of(model: str) -> tuple[str, ...] | None:
    """The sources of a published model, or None for one outside the table."""
    return MODEL_SOURCES.get(model)


def _parse_stems(model: str, value: object) -> str:
    if _absent(value) or value == "all":
        return ""
    allowed = sources_of(model) or ALL_SOURCES
    if not isinstance(value, str) or value not in allowed:
        raise BadOption(
            f'"stems" must be "all" or one stem of model "{model}": {", ".join(allowed)}'
        )
    return value


def _parse_format(value: object) -> str:
    if _absent(value):
        return "mp3"
    if not isinstance(value, str) or value.lower() not in FORMATS:
        raise BadOption(f'"format" must be one of {", ".join(FORMATS)}')
    return value.lower()


def _parse_bitrate(value: object) -> int:
    bitrate = _parse_int("bitrate", value, 0, MP3_BITRATES_KBPS[0], MP3_BITRATES_KBPS[-1])
    if bitrate and bitrate not in MP3_BITRATES_KBPS:
        raise BadOption(
            f'"bitrate" must be one of {", ".join(map(str, MP3_BITRATES_KBPS))} (kbit/s)'
        )
    return bitrate


def _parse_int(name: str, value: object, default: int, low: int, high: int) -> int:
    if _absent(value):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadOption(f'"{name}" must be a whole number from {low} to {high}')
    try:
        number = int(value)
    except ValueError:
        raise BadOption(f'"{name}" must be a whole number from {low} to {high}') from None
    if not low <= number <= high:
        raise BadOption(f'"{name}" must be a whole number from {low} to {high}')
    return number


def _parse_overlap(value: object) -> float:
    message = f'"overlap" must be a number from 0 to {MAX_OVERLAP}'
    if _absent(value):
        return DEFAULT_OVERLAP
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadOption(message)
    try:
        number = float(value)
    except ValueError:
        raise BadOption(message) from None
    if not 0 <= number <= MAX_OVERLAP:
        raise BadOption(message)
    return number


def _absent(value: object) -> bool:
    return value is None or value == ""
