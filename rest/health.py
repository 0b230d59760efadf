"""Probes: the root for load balancers, liveness and readiness for Kubernetes."""

from flask import Blueprint, current_app

blueprint = Blueprint("health", __name__)


@blueprint.get("/")
def index():
    """Load balancers probe the root; people get a pointer to the API."""
    return {"service": "MSaaS", "api": "/apiv1"}


@blueprint.get("/healthz")
def healthz():
    """The process lives and answers."""
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz():
    """Redis and the object store answer; the error handler turns silence into a 503."""
    current_app.extensions["redis"].ping()
    current_app.extensions["storage"].ping()
    return {"status": "ready"}
