"""Telling the caller that a job ended, by an HTTP POST to the URL it gave."""

import logging

import requests

logger = logging.getLogger(__name__)


def send_callback(url: str, payload: dict, timeout_s: float) -> str:
    """POST `payload` as JSON to `url`; return "" on a 2xx answer, else why it failed."""
    try:
        response = requests.post(url, json=payload, timeout=timeout_s)
        response.raise_for_status()
    except requests.RequestException as error:
        return f"callback failed: {type(error).__name__}: {error}"
    return ""
