"""Write HTDemucs models with random weights into a folder in Demucs' local-repo layout.

Such a folder is what `DEMUCS_REPO` points at: `<name>.yaml` names the model files of a bag,
`<signature>.th` holds each model. Demucs' own loader reads it, so the worker runs the same
code path as with downloaded weights. Random weights separate nothing useful; they exist for
tests and offline runs (tiny) and for benchmarks (htdemucs-sized: the same compute as the
real htdemucs, since compute does not depend on the values of the weights).

Usage: python -m worker.models {tiny,htdemucs-random} FOLDER
"""

import argparse
import hashlib
from pathlib import Path

import torch
import yaml
from demucs.htdemucs import HTDemucs

SOURCES = ["drums", "bass", "other", "vocals"]
SAMPLE_RATE_HZ = 44_100

# Small enough for tests to separate a few seconds in about a second on two cores.
TINY = {"channels": 4, "depth": 4, "t_layers": 0, "dconv_mode": 0, "nfft": 2048, "segment": 8}
# The hyper-parameters of Demucs' published htdemucs model (its "mmi" training grid): 41.98 M
# parameters, like the 168 MB of its released weights. The 7.8 s segment is the one it was
# trained on, so the model runs the same chunks as the real one.
HTDEMUCS = {
    "channels": 48,
    "depth": 4,
    "t_layers": 5,
    "bottom_channels": 512,
    "dconv_mode": 3,
    "segment": 7.8,
}

SIZES = {"tiny": TINY, "htdemucs-random": HTDEMUCS}


def write_random_model(folder: Path, name: str, hyper: dict, seed: int = 0) -> Path:
    """Write an HTDemucs with random weights as the one-model bag `name`; return its yaml."""
    torch.manual_seed(seed)
    model = HTDemucs(sources=SOURCES, audio_channels=2, samplerate=SAMPLE_RATE_HZ, **hyper)
    args, kwargs = model._init_args_kwargs
    package = {"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": model.state_dict()}

    folder.mkdir(parents=True, exist_ok=True)
    signature = hashlib.sha256(f"{name}:{sorted(hyper.items())}:{seed}".encode()).hexdigest()[:8]
    torch.save(package, folder / f"{signature}.th")
    bag = folder / f"{name}.yaml"
    bag.write_text(
        "# HTDemucs with RANDOM weights, written by worker.models: it does not separate music.\n"
        + yaml.safe_dump({"models": [signature]})
    )
    return bag


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("size", choices=sorted(SIZES), help="which model to write")
    parser.add_argument("folder", type=Path, help="the local model repository to write into")
    parser.add_argument("--name", help="the model's name (default: the size)")
    options = parser.parse_args()

    bag = write_random_model(options.folder, options.name or options.size, SIZES[options.size])
    print(f"wrote {bag} (random weights)")


if __name__ == "__main__":
    main()
