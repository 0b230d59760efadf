"""`msaas`: separate songs through an MSaaS server from the command line.

    msaas separate song.mp3 -o out/          # upload, follow, download every stem
    msaas separate song.mp3 --stems vocals   # vocals and no_vocals (karaoke)
    msaas status ID | msaas queue | msaas get ID [TRACK...] -o DIR | msaas rm ID [TRACK...]

The server and API key come from --url/--api-key or MSAAS_URL/MSAAS_API_KEY.
"""

import logging
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from cli.client import ApiClient, ClientError
from msaas.options import FORMATS

DEFAULT_URL = "http://127.0.0.1:5000"
POLL_INTERVAL_S = 0.5
STEM_CHOICES = ("all", "vocals", "drums", "bass", "other", "guitar", "piano")

console = Console(stderr=True)


class CliError(click.ClickException):
    """A failure shown as one line, with exit status 1."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="MSAAS_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The MSaaS server (env MSAAS_URL).",
)
@click.option(
    "--api-key",
    envvar="MSAAS_API_KEY",
    default="",
    help="API key, sent as a Bearer token (env MSAAS_API_KEY).",
)
@click.pass_context
def main(context: click.Context, url: str, api_key: str) -> None:
    """Separate songs into stems with an MSaaS server."""
    # urllib3 warns of each retry; the command reports what finally failed, in one line.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    context.obj = ApiClient(url, api_key)


@main.command()
@click.argument(
    "songs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--model", help="Demucs model (default: the server's).")
@click.option(
    "--stems",
    type=click.Choice(STEM_CHOICES),
    default="all",
    show_default=True,
    help="One stem gives it and its complement, e.g. vocals and no_vocals.",
)
@click.option(
    "--format",
    "audio_format",
    type=click.Choice(list(FORMATS)),
    default="mp3",
    show_default=True,
    help="Format of the stems.",
)
@click.option("--bitrate", type=int, help="MP3 bitrate in kbit/s (default: the server's).")
@click.option("--shifts", type=int, help="Demucs shifts: better quality, N times slower.")
@click.option("--overlap", type=float, help="Demucs overlap between segments.")
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("separated"),
    show_default=True,
    help="Folder for the stems: OUT/<song>/<stem>.<format>.",
)
@click.pass_obj
def separate(
    client: ApiClient, songs, model, stems, audio_format, bitrate, shifts, overlap, out_dir: Path
) -> None:
    """Upload SONGS, show their progress, and write their stems.

    Prints one line per song when its stems are written: the job id and the stems' folder.
    """
    options = {
        "model": model,
        "stems": stems,
        "format": audio_format,
        "bitrate": bitrate,
        "shifts": shifts,
        "overlap": overlap,
    }
    with _progress() as progress:
        jobs = {}
        for song in songs:
            task = progress.add_task(f"{song.name}: uploading", total=100)
            answer = _run(client.separate, song, options)
            jobs[answer["hash"]] = (song, task)
        while jobs:
            for job_id, (song, task) in list(jobs.items()):
                if _follow(client, progress, job_id, song, task, out_dir):
                    del jobs[job_id]
                    click.echo(f"{job_id}\t{out_dir / song.stem}")
            if jobs:
                time.sleep(POLL_INTERVAL_S)


@main.command()
@click.argument("job_id")
@click.pass_obj
def status(client: ApiClient, job_id: str) -> None:
    """Show where job JOB_ID stands."""
    job = _run(client.status, job_id)
    for name in (
        "id",
        "state",
        "progress",
        "position",
        "tracks",
        "reason",
        "model",
        "options",
        "attempts",
        "duration_s",
        "created_at",
        "started_at",
        "finished_at",
        "workers",
    ):
        if name in job and job[name] not in ("", None):
            value = job[name]
            shown = ", ".join(value) if isinstance(value, list) else value
            click.echo(f"{name}: {shown}")


@main.command()
@click.pass_obj
def queue(client: ApiClient) -> None:
    """List the waiting jobs, the next to be served first."""
    waiting = _run(client.queue)
    for position, job_id in enumerate(waiting, start=1):
        click.echo(f"{position}\t{job_id}")
    if not waiting:
        console.print("the queue is empty")


@main.command()
@click.argument("job_id")
@click.argument("tracks", nargs=-1)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for the stems.",
)
@click.pass_obj
def get(client: ApiClient, job_id: str, tracks, out_dir: Path) -> None:
    """Download TRACKS (default: every one) of a done job into OUT."""
    job = _run(client.status, job_id)
    if job["state"] != "done" and not tracks:
        raise CliError(f"job {job_id} is {job['state']}; its stems are not ready")
    with _progress() as progress:
        _download(client, progress, job, list(tracks) or job["tracks"], out_dir)


@main.command()
@click.argument("job_id")
@click.argument("tracks", nargs=-1)
@click.pass_obj
def rm(client: ApiClient, job_id: str, tracks) -> None:
    """Remove TRACKS of a job (default: every one, which removes the job)."""
    for track in list(tracks) or _run(client.status, job_id)["tracks"]:
        answer = _run(client.remove, job_id, track)
        click.echo(f"removed {answer['removed']}")


def _follow(
    client: ApiClient, progress: Progress, job_id: str, song: Path, task, out_dir: Path
) -> bool:
    """Update a song's bar from its status; download when done. True once it has ended."""
    job = _run(client.status, job_id)
    state = job["state"]
    if state == "queued":
        where = f"position {job['position']}" if job.get("position") else "waiting"
        progress.update(task, description=f"{song.name}: queued, {where}", completed=0)
    elif state == "processing":
        progress.update(task, description=f"{song.name}: separating", completed=job["progress"])
    elif state == "failed":
        progress.update(task, description=f"{song.name}: failed")
        raise CliError(f"{song.name}: job {job_id} failed: {job['reason']}")
    else:
        progress.update(task, description=f"{song.name}: done", completed=100)
        _download(client, progress, job, job["tracks"], out_dir / song.stem)
        return True
    return False


def _download(
    client: ApiClient, progress: Progress, job: dict, tracks: list[str], folder: Path
) -> None:
    """Stream each track into FOLDER/<track>.<format>, with a bar per track."""
    extension = (job.get("options") or {}).get("format") or "mp3"
    folder.mkdir(parents=True, exist_ok=True)
    for track in tracks:
        name = track.removesuffix(f".{extension}")
        path = folder / f"{name}.{extension}"
        stem = _run(client.download, job["id"], name)
        task = progress.add_task(f"  {path}", total=stem.size or None)
        partial = path.with_name(path.name + ".part")
        with partial.open("wb") as file:
            for chunk in _guard(stem.chunks):
                file.write(chunk)
                progress.advance(task, len(chunk))
        partial.replace(path)
        console.print(f"wrote {path}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _run(call, *args):
    """Call the API; turn its failure into a one-line CLI error."""
    try:
        return call(*args)
    except ClientError as error:
        raise CliError(str(error)) from None


def _guard(chunks):
    try:
        yield from chunks
    except ClientError as error:
        raise CliError(str(error)) from None
