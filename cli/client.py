"""The REST API as Python calls, over requests; every failure becomes one ClientError."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# Status polls and small calls; uploads and downloads get the longer timeout.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30
TRANSFER_TIMEOUT_S = 300
DOWNLOAD_CHUNK_BYTES = 256 * 1024
# Idempotent calls (GET, DELETE) are retried on a dropped connection or a 502/503/504; a
# refused connection once, so that a wrong URL is reported at once. After the last retry the
# server's own answer is returned, so that its message reaches the user.
RETRIES = Retry(
    total=3,
    connect=1,
    backoff_factor=0.5,
    status_forcelist=(502, 503, 504),
    raise_on_status=False,
)


class ClientError(Exception):
    """A call failed; the message is one line a person can act on."""


@dataclass(frozen=True)
class Download:
    """A stem being downloaded: its size (0 when unknown) and its bytes in chunks."""

    size: int
    chunks: Iterator[bytes]


class ApiClient:
    """Calls to one MSaaS server, with an optional API key."""

    def __init__(self, url: str, api_key: str = ""):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=RETRIES))
        self.session.mount("https://", HTTPAdapter(max_retries=RETRIES))
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def separate(self, song: Path, options: dict) -> dict:
        """Upload a song as a multipart form; return {"hash", "reason"}."""
        fields = {name: str(value) for name, value in options.items() if value is not None}
        with song.open("rb") as file:
            return self._call(
                "POST",
                "/apiv1/separate",
                files={"mp3": (song.name, file, "application/octet-stream")},
                data=fields,
                timeout=(CONNECT_TIMEOUT_S, TRANSFER_TIMEOUT_S),
            ).json()

    def status(self, job_id: str) -> dict:
        """The job's status record."""
        return self._call("GET", f"/apiv1/status/{job_id}").json()

    def queue(self) -> list[str]:
        """The waiting job ids, the next to be served first."""
        return self._call("GET", "/apiv1/queue").json()["queue"]

    def download(self, job_id: str, track: str) -> Download:
        """Open one stem for streaming."""
        response = self._call(
            "GET",
            f"/apiv1/track/{job_id}/{track}",
            stream=True,
            timeout=(CONNECT_TIMEOUT_S, TRANSFER_TIMEOUT_S),
        )
        size = int(response.headers.get("Content-Length") or 0)
        return Download(size, _stream(response))

    def remove(self, job_id: str, track: str) -> dict:
        """Delete one stem; return {"hash", "removed", "tracks"}."""
        return self._call("DELETE", f"/apiv1/remove/{job_id}/{track}").json()

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        """Send one request; raise ClientError with the server's own message on failure."""
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        try:
            response = self.session.request(method, self.url + path, **kwargs)
        except requests.ConnectionError:
            raise ClientError(
                f"cannot reach MSaaS at {self.url}; is it running? (set --url or MSAAS_URL)"
            ) from None
        except requests.RequestException as error:
            raise ClientError(f"{method} {path}: {type(error).__name__}") from None

        if response.ok:
            return response
        raise ClientError(f"{response.status_code} from the server: {_error_text(response)}")


def _error_text(response: requests.Response) -> str:
    """The server's {"error": ...} message, or the start of whatever it sent."""
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return response.text.strip().splitlines()[0][:200] if response.text.strip() else "-"


def _stream(response: requests.Response) -> Iterator[bytes]:
    """Yield the body in chunks, then close the response."""
    try:
        yield from response.iter_content(DOWNLOAD_CHUNK_BYTES)
    except requests.RequestException as error:
        raise ClientError(f"the download broke off ({type(error).__name__})") from None
    finally:
        response.close()
