"""The root (the web page, and a 200 for load balancers), liveness and readiness."""

from pathlib import Path

from flask import Blueprint, Response, current_app

blueprint = Blueprint("health", __name__)


@blueprint.get("/")
def index():
    """The web page (static HTML and JS, no build step); load balancers get a 200 from it."""
    # Read whole (4 KB), not streamed from an open file that a probe may never read to the end.
    page = Path(current_app.static_folder, "index.html").read_bytes()
    return Response(page, mimetype="text/html")


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
