#!/usr/bin/env bash
# deploy-local.sh: run MSaaS on a laptop cluster, with kind or minikube.
#
# Creates the cluster if it is missing, builds the rest and worker images, loads them into
# the cluster, applies k8s/overlays/local, waits for every rollout and prints the
# kubectl port-forward commands. Run it again after a code change: it keeps the cluster,
# the credentials and the data, and restarts rest and worker on the new images.
#
# Usage: ./deploy-local.sh [--kind | --minikube] [--cluster NAME] [--skip-build] [-h | --help]
#   --kind, --minikube  the tool to use (default: kind if installed, else minikube)
#   --cluster NAME      the cluster (kind) or profile (minikube) name (default: msaas)
#   --skip-build        load the images already built instead of building them
# Needs docker, kubectl and kind or minikube. Environment: MSAAS_ROLLOUT_TIMEOUT (20m).
set -euo pipefail

# --- configuration
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER_NAME="msaas"
PROVIDER=""
BUILD=1
OVERLAY="k8s/overlays/local"
# The tags the manifests name (rest/rest-deployment.yaml, worker/worker-deployment.yaml).
REST_IMAGE="msaas-rest:0.1.0"
WORKER_IMAGE="msaas-worker:0.1.0"
# minikube's default of 2 GiB cannot hold a worker.
MINIKUBE_MEMORY="8g"
MINIKUBE_CPUS="4"

# shellcheck source=k8s/deploy-lib.sh
source "$REPO_ROOT/k8s/deploy-lib.sh"

parse_args() {
    while (($# > 0)); do
        case "$1" in
            --kind) PROVIDER="kind" ;;
            --minikube) PROVIDER="minikube" ;;
            --cluster) CLUSTER_NAME="${2:?--cluster needs a name}"; shift ;;
            --skip-build) BUILD=0 ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
        shift
    done
}

choose_provider() {
    if [[ -n "$PROVIDER" ]]; then
        require_command "$PROVIDER"
    elif command -v kind >/dev/null 2>&1; then
        PROVIDER="kind"
    elif command -v minikube >/dev/null 2>&1; then
        PROVIDER="minikube"
    else
        die "neither kind nor minikube is installed"
    fi
    log "using $PROVIDER cluster $CLUSTER_NAME"
}

# Prints the kubectl context of the cluster, creating the cluster first if it is missing.
ensure_cluster() {
    if [[ "$PROVIDER" == "kind" ]]; then
        if ! kind get clusters 2>/dev/null | grep -x "$CLUSTER_NAME" >/dev/null; then
            log "creating kind cluster $CLUSTER_NAME"
            kind create cluster --name "$CLUSTER_NAME" >&2
        fi
        echo "kind-$CLUSTER_NAME"
    else
        if ! minikube status --profile "$CLUSTER_NAME" >/dev/null 2>&1; then
            log "starting minikube profile $CLUSTER_NAME"
            minikube start --profile "$CLUSTER_NAME" --memory "$MINIKUBE_MEMORY" \
                --cpus "$MINIKUBE_CPUS" >&2
        fi
        echo "$CLUSTER_NAME"
    fi
}

build_images() {
    log "building $REST_IMAGE"
    docker build --file rest/Dockerfile --tag "$REST_IMAGE" .
    log "building $WORKER_IMAGE (the first build downloads torch and the htdemucs weights)"
    docker build --file worker/Dockerfile --tag "$WORKER_IMAGE" .
}

load_images() {
    local image
    for image in "$REST_IMAGE" "$WORKER_IMAGE"; do
        log "loading $image into the cluster"
        if [[ "$PROVIDER" == "kind" ]]; then
            kind load docker-image --name "$CLUSTER_NAME" "$image"
        else
            minikube image load --profile "$CLUSTER_NAME" "$image"
        fi
    done
}

# The tags stay the same from build to build, so pods only pick up a new image on restart.
# TODO(image-tags): tag each build with its content hash so an unchanged image restarts nothing.
restart_app() {
    local context="$1"
    kubectl --context "$context" -n "$MSAAS_NAMESPACE" rollout restart deployment/rest \
        deployment/worker
}

main() {
    parse_args "$@"
    cd "$REPO_ROOT"
    require_command docker kubectl
    choose_provider

    local context
    context="$(ensure_cluster)"
    if ((BUILD)); then
        build_images
    fi
    load_images

    ensure_namespace "$context"
    ensure_credentials "$context"
    kubectl kustomize "$OVERLAY" | apply_manifests "$context"
    restart_app "$context"
    wait_for_rollouts "$context"
    print_port_forwards "$context"
}

main "$@"
