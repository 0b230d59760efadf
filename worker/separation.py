"""Demucs behind two calls: load a model once, separate many songs with it.

Nothing here knows of Redis, HTTP or the object store; progress leaves through a callback.
"""

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from demucs.api import Separator
from demucs.apply import apply_model

from msaas.errors import ModelLoadError

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]


def pick_device(requested: str) -> str:
    """The torch device to run on: the one asked for, else CUDA when present, else CPU."""
    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> None:
    """Raise ModelLoadError unless torch can run on `device` here."""
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as error:
        raise ModelLoadError(
            f"DEMUCS_DEVICE={device!r} cannot be used here ({error}); "
            "set it to cpu, or leave it empty to pick CUDA when present"
        ) from error


def load_separator(name: str, repo: str, device: str) -> Separator:
    """Load a Demucs model by name, from the local folder `repo` when one is given.

    Raises:
        ModelLoadError: the model cannot be loaded; the message says what to set.
    """
    logger.info("loading Demucs model %s from %s on %s", name, repo or "the model hub", device)
    check_device(device)
    try:
        separator = Separator(
            model=name, repo=Path(repo) if repo else None, device=device, progress=False
        )
    # Demucs reports a missing model in many ways, including SystemExit from its CLI helpers.
    except (Exception, SystemExit) as error:
        raise ModelLoadError(
            f"cannot load the Demucs model {name!r}"
            f"{f' from {repo}' if repo else ' (weights are fetched from the model hub)'}: "
            f"{error}. Set DEMUCS_MODEL to a model that exists and, offline, DEMUCS_REPO to a "
            "folder in Demucs' local-repo layout (make tiny-model writes one to .models)."
        ) from error
    logger.info("model %s ready: sources %s", name, ", ".join(separator.model.sources))
    return separator


def separate(
    separator: Separator,
    wav: np.ndarray,
    on_progress: ProgressCallback,
    shifts: int = 1,
    overlap: float = 0.25,
) -> dict[str, torch.Tensor]:
    """Split `wav` (stereo, the model's sample rate) into stems, reporting progress 0-99.

    `wav` is normalised in place and must not be used afterwards: this is what
    `Separator.separate_tensor` computes, without its copies of the song and of the stems
    (about 1 GB more at the peak for a 10-minute song).
    """
    # TODO(memory): the peak grows with the song (a padded copy of it and two copies of the
    # stems inside apply_model's shift trick, 3.1 GB for 10 minutes); separating in windows of
    # a minute, cross-faded, would bound it by the window.
    tracker = _ProgressTracker(on_progress, shifts=max(1, shifts))
    mix = torch.from_numpy(wav)
    reference = mix.mean(0)
    mean, std = reference.mean(), reference.std() + 1e-8
    del reference
    mix.sub_(mean).div_(std)

    stems = apply_model(
        separator.model,
        mix[None],
        shifts=shifts,
        split=True,
        overlap=overlap,
        # demucs is pinned: the Separator keeps its device here and offers no getter.
        device=separator._device,
        callback=tracker,
        callback_arg={"audio_length": mix.shape[-1]},
    )[0]
    del mix
    stems.mul_(std).add_(mean)

    return dict(zip(separator.model.sources, stems, strict=True))


def two_stems(stems: dict[str, torch.Tensor], stem: str, complement: str) -> dict:
    """Keep `stem` and the sum of every other stem, as Demucs' --two-stems does."""
    others = [wav for name, wav in stems.items() if name != stem]
    return {stem: stems[stem], complement: torch.stack(others).sum(dim=0)}


class _ProgressTracker:
    """Turns Demucs' per-chunk callbacks into a percentage over every model and shift."""

    def __init__(self, on_progress: ProgressCallback, shifts: int):
        self.on_progress = on_progress
        self.shifts = shifts
        self.last = -1

    def __call__(self, info: dict) -> None:
        if info["state"] != "end":
            return
        passes = info["models"] * self.shifts
        done_passes = info["model_idx_in_bag"] * self.shifts + info["shift_idx"]
        within = min(1.0, info["segment_offset"] / max(1, info["audio_length"]))
        percent = int(99 * (done_passes + within) / passes)
        if percent > self.last:
            self.last = percent
            self.on_progress(percent)
