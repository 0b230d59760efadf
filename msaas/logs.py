"""Log set-up for the entry points: one handler, to stdout."""

import logging
import os
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging() -> None:
    """Send every log record to stdout, at LOG_LEVEL (default INFO)."""
    logging.basicConfig(
        stream=sys.stdout, level=os.environ.get("LOG_LEVEL", "INFO").upper(), format=LOG_FORMAT
    )
