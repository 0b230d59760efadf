#!/usr/bin/env bash
# deploy-gke.sh: run MSaaS on Google Kubernetes Engine.
#
# Creates the GKE cluster and the Artifact Registry repository if they are missing,
# installs KEDA, builds and pushes the rest and worker images, applies k8s/overlays/gke
# (or k8s/overlays/gke-gpu), waits for every rollout and prints the ingress address.
# Run it again after a code change: it reuses what exists and rolls out the new images.
#
# Usage: ./deploy-gke.sh --project ID (--region REGION | --zone ZONE) [--cluster NAME]
#                        [--gpu] [--skip-build] [-h | --help]
#   --project ID      the Google Cloud project (or GKE_PROJECT)
#   --region REGION   a regional cluster, e.g. europe-west1 (or GKE_REGION)
#   --zone ZONE       a zonal cluster, e.g. europe-west1-b (or GKE_ZONE)
#   --cluster NAME    the cluster name (default: msaas, or GKE_CLUSTER)
#   --gpu             also run the workers on an NVIDIA L4 node pool, with the CUDA image
#   --skip-build      deploy the images already pushed for this version
# Needs gcloud (logged in, with a billing-enabled project), docker and kubectl.
set -euo pipefail

# --- configuration
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="${GKE_PROJECT:-}"
REGION="${GKE_REGION:-}"
ZONE="${GKE_ZONE:-}"
CLUSTER_NAME="${GKE_CLUSTER:-msaas}"
GPU=0
BUILD=1
IMAGE_TAG="0.1.0"
AR_REPOSITORY="msaas"
# The registry the GKE overlay names until this script puts the project's own in its place.
PLACEHOLDER_REGISTRY="region-docker.pkg.dev/project/msaas"
# htdemucs on CPU wants 2-4 cores and up to 8 GiB per worker.
MACHINE_TYPE="e2-standard-8"
MIN_NODES=1
MAX_NODES=4
GPU_POOL="gpu"
GPU_MACHINE_TYPE="g2-standard-8"
GPU_ACCELERATOR="type=nvidia-l4,count=1,gpu-driver-version=default"
GPU_MAX_NODES=2
KEDA_VERSION="2.17.0"
KEDA_MANIFEST="https://github.com/kedacore/keda/releases/download/v${KEDA_VERSION}/keda-${KEDA_VERSION}.yaml"
INGRESS_WAIT_S=900

# shellcheck source=k8s/deploy-lib.sh
source "$REPO_ROOT/k8s/deploy-lib.sh"

parse_args() {
    while (($# > 0)); do
        case "$1" in
            --project) PROJECT="${2:?--project needs an id}"; shift ;;
            --region) REGION="${2:?--region needs a region}"; shift ;;
            --zone) ZONE="${2:?--zone needs a zone}"; shift ;;
            --cluster) CLUSTER_NAME="${2:?--cluster needs a name}"; shift ;;
            --gpu) GPU=1 ;;
            --skip-build) BUILD=0 ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
        shift
    done

    [[ -n "$PROJECT" ]] || die "--project is required"
    [[ -n "$REGION" || -n "$ZONE" ]] || die "--region or --zone is required"
    [[ -z "$REGION" || -z "$ZONE" ]] || die "give --region or --zone, not both"
}

# The cluster's location, and the region its images live in.
location() {
    echo "${ZONE:-$REGION}"
}

registry() {
    local region="${REGION:-${ZONE%-*}}"
    echo "${region}-docker.pkg.dev/${PROJECT}/${AR_REPOSITORY}"
}

gcloud_p() {
    gcloud --project "$PROJECT" --quiet "$@"
}

ensure_apis() {
    log "enabling the GKE and Artifact Registry APIs"
    gcloud_p services enable container.googleapis.com artifactregistry.googleapis.com
}

ensure_cluster() {
    if gcloud_p container clusters describe "$CLUSTER_NAME" --location "$(location)" \
        >/dev/null 2>&1; then
        log "using the existing cluster $CLUSTER_NAME"
    else
        log "creating the cluster $CLUSTER_NAME in $(location) (several minutes)"
        gcloud_p container clusters create "$CLUSTER_NAME" --location "$(location)" \
            --release-channel regular --machine-type "$MACHINE_TYPE" --num-nodes "$MIN_NODES" \
            --enable-autoscaling --min-nodes "$MIN_NODES" --max-nodes "$MAX_NODES" \
            --enable-ip-alias --enable-dataplane-v2
    fi

    if ((GPU)) && ! gcloud_p container node-pools describe "$GPU_POOL" \
        --cluster "$CLUSTER_NAME" --location "$(location)" >/dev/null 2>&1; then
        log "creating the GPU node pool $GPU_POOL"
        # GKE labels these nodes with the accelerator and taints them nvidia.com/gpu, which
        # k8s/overlays/gke-gpu selects and tolerates.
        gcloud_p container node-pools create "$GPU_POOL" --cluster "$CLUSTER_NAME" \
            --location "$(location)" --machine-type "$GPU_MACHINE_TYPE" \
            --accelerator "$GPU_ACCELERATOR" --num-nodes 0 \
            --enable-autoscaling --min-nodes 0 --max-nodes "$GPU_MAX_NODES"
    fi

    gcloud_p container clusters get-credentials "$CLUSTER_NAME" --location "$(location)" >&2
}

context() {
    echo "gke_${PROJECT}_$(location)_${CLUSTER_NAME}"
}

ensure_keda() {
    log "installing KEDA $KEDA_VERSION"
    kubectl --context "$(context)" apply --server-side --force-conflicts -f "$KEDA_MANIFEST" \
        >/dev/null
    kubectl --context "$(context)" -n keda rollout status deployment/keda-operator \
        --timeout "$MSAAS_ROLLOUT_TIMEOUT"
}

ensure_repository() {
    local region="${REGION:-${ZONE%-*}}"
    if ! gcloud_p artifacts repositories describe "$AR_REPOSITORY" --location "$region" \
        >/dev/null 2>&1; then
        log "creating the Artifact Registry repository $AR_REPOSITORY"
        gcloud_p artifacts repositories create "$AR_REPOSITORY" --location "$region" \
            --repository-format docker
    fi
    gcloud --quiet auth configure-docker "${region}-docker.pkg.dev" >&2
}

build_and_push() {
    local registry rest_image worker_image
    registry="$(registry)"
    rest_image="$registry/msaas-rest:$IMAGE_TAG"
    worker_image="$registry/msaas-worker:$IMAGE_TAG"

    log "building and pushing $rest_image"
    docker build --platform linux/amd64 --file rest/Dockerfile --tag "$rest_image" .
    docker push "$rest_image"
    if ((GPU)); then
        worker_image="$worker_image-cuda"
        log "building and pushing $worker_image"
        docker build --platform linux/amd64 --file worker/Dockerfile --tag "$worker_image" \
            --build-arg TORCH_INDEX_URL=https://pypi.org/simple .
    else
        log "building and pushing $worker_image"
        docker build --platform linux/amd64 --file worker/Dockerfile --tag "$worker_image" .
    fi
    docker push "$worker_image"
}

render_overlay() {
    local overlay="k8s/overlays/gke"
    if ((GPU)); then
        overlay="k8s/overlays/gke-gpu"
    fi
    kubectl kustomize "$overlay" | sed "s#${PLACEHOLDER_REGISTRY}/#$(registry)/#g"
}

# The tags stay the same from build to build, so pods only pick up a new image on restart.
restart_app() {
    kubectl --context "$(context)" -n "$MSAAS_NAMESPACE" rollout restart deployment/rest \
        deployment/worker
}

print_ingress_address() {
    local address="" waited=0
    log "waiting for the load balancer address (GCE takes a few minutes)"
    while [[ -z "$address" ]] && ((waited < INGRESS_WAIT_S)); do
        address="$(kubectl --context "$(context)" -n "$MSAAS_NAMESPACE" get ingress rest \
            -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
        if [[ -z "$address" ]]; then
            sleep 10
            waited=$((waited + 10))
        fi
    done

    if [[ -z "$address" ]]; then
        log "no address yet; see: kubectl -n $MSAAS_NAMESPACE describe ingress rest"
        return
    fi
    cat <<EOT

MSaaS is running at http://$address/ (the health checks may need a few more minutes):
  curl http://$address/
EOT
}

main() {
    parse_args "$@"
    cd "$REPO_ROOT"
    require_command gcloud docker kubectl

    ensure_apis
    ensure_cluster
    ensure_keda
    ensure_repository
    if ((BUILD)); then
        build_and_push
    fi

    ensure_namespace "$(context)"
    ensure_credentials "$(context)"
    render_overlay | apply_manifests "$(context)"
    restart_app
    wait_for_rollouts "$(context)"
    print_ingress_address
}

main "$@"
