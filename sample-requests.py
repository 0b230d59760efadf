#!/usr/bin/env python3
"""Submit a song to MSaaS, wait for its separation, and download the stems.

Usage: python sample-requests.py SONG.mp3 [--url http://127.0.0.1:5000] [--out stems/]
"""

import argparse
import base64
import sys
import time
from pathlib import Path

import requests

POLL_INTERVAL_S = 1.0


def main() -> int:
    """Run one song through the service; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("song", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="the MSaaS API")
    parser.add_argument("--out", type=Path, default=Path("stems"), help="where stems go")
    options = parser.parse_args()
    api = f"{options.url.rstrip('/')}/apiv1"

    body = {"mp3": base64.b64encode(options.song.read_bytes()).decode()}
    answer = requests.post(f"{api}/separate", json=body, timeout=300)
    if answer.status_code != 200:
        print(f"refused ({answer.status_code}): {answer.json()['error']}", file=sys.stderr)
        return 1
    job_id = answer.json()["hash"]
    print(f"{job_id}: {answer.json()['reason']}")

    while True:
        status = requests.get(f"{api}/status/{job_id}", timeout=30).json()
        print(
            f"  {status['state']:<10} progress {status['progress']:>3}%"
            f"  position {status['position'] or '-'}"
        )
        if status["state"] in ("done", "failed"):
            break
        time.sleep(POLL_INTERVAL_S)
    if status["state"] == "failed":
        print(f"failed: {status['reason']}", file=sys.stderr)
        return 1

    options.out.mkdir(parents=True, exist_ok=True)
    for track in status["tracks"]:
        target = options.out / f"{track}.mp3"
        with requests.get(f"{api}/track/{job_id}/{track}", stream=True, timeout=300) as stem:
            stem.raise_for_status()
            with target.open("wb") as file:
                for chunk in stem.iter_content(chunk_size=256 * 1024):
                    file.write(chunk)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
