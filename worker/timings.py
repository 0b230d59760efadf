"""How long each phase of a job took, as the worker records it in the job's `timings`."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

# The phases in the order a job goes through them; each is a key `<phase>_s` in `timings`.
PHASES = ("queue_wait", "fetch", "decode", "separate", "encode", "upload")


class PhaseClock:
    """Wall-clock seconds per phase of one job attempt."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase `name`."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.record(name, time.monotonic() - start)

    def record(self, name: str, seconds: float) -> None:
        """Add `seconds` to phase `name`."""
        key = f"{name}_s"
        self.seconds[key] = round(self.seconds.get(key, 0.0) + max(0.0, seconds), 3)


def seconds_since(timestamp: str) -> float:
    """Seconds from an ISO 8601 timestamp (as jobs.now writes them) to now; 0 if unreadable."""
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(timezone.utc) - then).total_seconds())
