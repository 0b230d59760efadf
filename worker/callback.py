"""Telling the caller that a job ended: a signed HTTP POST to the URL it gave, retried.

The body is JSON. With CALLBACK_SECRET set, two headers let the receiver check that the POST
comes from this service and is fresh:

    X-MSaaS-Timestamp: <unix seconds>
    X-MSaaS-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, keyed by the secret>
"""

import hashlib
import hmac
import json
import logging
import time

import requests
from tenacity import (
    RetryError,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from msaas.callbacks import CallbackPolicy
from msaas.errors import BadCallback

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-MSaaS-Timestamp"
SIGNATURE_HEADER = "X-MSaaS-Signature"
# The back-off between attempts: 0.5 s, 1 s, 2 s ... at most this.
RETRY_MAX_WAIT_S = 10


class _ServerError(Exception):
    """The receiver answered 5xx or 429: worth another try."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value of `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def send_callback(
    url: str,
    payload: dict,
    *,
    timeout_s: float,
    attempts: int,
    secret: str,
    policy: CallbackPolicy,
) -> str:
    """POST `payload` as JSON to `url`; return "" on a 2xx answer, else why it failed.

    The host is checked against `policy` (after resolving it) before every attempt. Refused
    hosts and 4xx answers are not retried; connection errors, timeouts and 5xx are, with
    exponential back-off, `attempts` times in all.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()

    @retry(
        retry=retry_if_exception_type((requests.ConnectionError, requests.Timeout, _ServerError)),
        wait=wait_exponential(multiplier=0.5, max=RETRY_MAX_WAIT_S),
        stop=stop_after_attempt(attempts),
    )
    def post_once() -> None:
        # TODO(callbacks): connect to the very address that was checked (a urllib3 connection
        # that checks its peer), so that DNS changing between check and connect cannot steer a
        # callback inside.
        policy.check_url(url, resolve=True)
        response = requests.post(
            url,
            data=body,
            headers=_headers(secret, body),
            timeout=timeout_s,
            # A redirect could lead anywhere, including inside the cluster.
            allow_redirects=False,
        )
        if response.status_code >= 500 or response.status_code == 429:
            raise _ServerError(f"HTTP {response.status_code}")
        if not 200 <= response.status_code < 300:
            raise requests.HTTPError(f"HTTP {response.status_code}", response=response)

    try:
        post_once()
    except RetryError as error:
        last = error.last_attempt.exception()
        return f"callback failed after {attempts} attempts: {_describe(last)}"
    except (BadCallback, requests.RequestException) as error:
        return f"callback failed: {_describe(error)}"
    return ""


def _headers(secret: str, body: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "msaas-callback"}
    if secret:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return headers


def _describe(error: BaseException | None) -> str:
    """A short reason. Requests' own messages carry the URL, which may hold a token: not shown."""
    if isinstance(error, (BadCallback, requests.HTTPError, _ServerError)):
        return str(error)
    return type(error).__name__ if error is not None else "unknown error"
