# shellcheck shell=bash
# deploy-lib.sh: the steps deploy-local.sh and deploy-gke.sh share; source it, do not run it.
#
# Every function takes the kubectl context as its first argument, so the scripts never
# switch the user's current context.

# The names the manifests use (k8s/base/kustomization.yaml and the Deployments).
MSAAS_NAMESPACE="msaas"
MSAAS_SECRET="msaas-s3"
MSAAS_SETUP_JOB="minio-setup"
MSAAS_WORKLOADS=("statefulset/minio" "deployment/redis" "deployment/rest" "deployment/worker")
MSAAS_ROLLOUT_TIMEOUT="${MSAAS_ROLLOUT_TIMEOUT:-20m}"

log() {
    printf '==> %s\n' "$*" >&2
}

# Print the running script's header (the lines between the shebang and `set -euo pipefail`).
usage() {
    sed -n '2,/^set -euo pipefail$/{/^set /d;s/^# \{0,1\}//;p}' "$0"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

require_command() {
    local name
    for name in "$@"; do
        command -v "$name" >/dev/null 2>&1 || die "$name is not installed (see docs/kubernetes.md)"
    done
}

random_hex() {
    od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

ensure_namespace() {
    local context="$1"
    kubectl --context "$context" create namespace "$MSAAS_NAMESPACE" --dry-run=client -o yaml \
        | kubectl --context "$context" apply -f - >/dev/null
}

# MinIO's root credentials, also used by rest and worker. Made once with random values and
# kept afterwards: MinIO's data stays readable only with the credentials it started with.
ensure_credentials() {
    local context="$1"
    if kubectl --context "$context" -n "$MSAAS_NAMESPACE" get secret "$MSAAS_SECRET" \
        >/dev/null 2>&1; then
        log "keeping the existing Secret $MSAAS_SECRET"
        return
    fi
    log "creating the Secret $MSAAS_SECRET with random credentials"
    # From a file descriptor, so the values never appear in a process list.
    kubectl --context "$context" -n "$MSAAS_NAMESPACE" create secret generic "$MSAAS_SECRET" \
        --from-env-file=<(printf 'access-key=msaas-%s\nsecret-key=%s\n' \
            "$(random_hex 6)" "$(random_hex 24)") >/dev/null
}

# Applies rendered manifests from stdin. A Job's pod template cannot change, and the bucket
# set-up is safe to repeat, so the old Job goes first.
apply_manifests() {
    local context="$1"
    kubectl --context "$context" -n "$MSAAS_NAMESPACE" delete job "$MSAAS_SETUP_JOB" \
        --ignore-not-found >/dev/null
    kubectl --context "$context" apply -f -
}

wait_for_rollouts() {
    local context="$1" workload
    for workload in "${MSAAS_WORKLOADS[@]}"; do
        log "waiting for $workload"
        kubectl --context "$context" -n "$MSAAS_NAMESPACE" rollout status "$workload" \
            --timeout "$MSAAS_ROLLOUT_TIMEOUT"
    done
    log "waiting for job/$MSAAS_SETUP_JOB"
    kubectl --context "$context" -n "$MSAAS_NAMESPACE" wait --for=condition=complete \
        "job/$MSAAS_SETUP_JOB" --timeout "$MSAAS_ROLLOUT_TIMEOUT"
}

print_port_forwards() {
    local context="$1" forward="kubectl --context $1 -n $MSAAS_NAMESPACE port-forward"
    cat <<EOT

MSaaS is running. Reach it from this machine with (one terminal each):
  $forward svc/rest 5000:5000            # the API:  curl http://127.0.0.1:5000/
  $forward svc/redis 6379:6379           # Redis:    redis-cli -p 6379
  $forward svc/minio 9000:9000           # S3 API:   http://127.0.0.1:9000
  $forward svc/minio-console 9001:9001   # MinIO console: http://127.0.0.1:9001
The MinIO credentials:
  kubectl --context $context -n $MSAAS_NAMESPACE get secret $MSAAS_SECRET -o jsonpath='{.data.access-key}' | base64 -d
  kubectl --context $context -n $MSAAS_NAMESPACE get secret $MSAAS_SECRET -o jsonpath='{.data.secret-key}' | base64 -d
EOT
}
