"""The MSaaS REST frontend: a Flask app that takes songs and serves stems."""

import logging

import redis
from flask import Flask

from msaas.config import Settings
from msaas.storage import Storage
from rest import api, errors, health, metrics, openapi
from rest.limits import install_rate_limit

logger = logging.getLogger(__name__)

# Room around the encoded song in a JSON body: the other fields and the JSON syntax.
BODY_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; settings come from the environment unless given (tests give them)."""
    app = Flask(__name__)

    # Settings: one immutable object, read once; a bad value fails here and names its variable.
    settings = settings or Settings.from_env()
    app.config["MSAAS_SETTINGS"] = settings
    # Base64 makes a song a third larger; refuse bigger bodies before reading them.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes * 4 // 3 + BODY_OVERHEAD_BYTES
    app.json.sort_keys = False

    # Clients: built once here and shared by every request.
    app.extensions["redis"] = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=10
    )
    app.extensions["storage"] = Storage.from_settings(settings)
    app.extensions["metrics_registry"] = metrics.build_registry(app.extensions["redis"])

    # Routes, then the one place where every failure becomes a JSON answer.
    app.register_blueprint(health.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(metrics.blueprint)
    install_rate_limit(app, settings)
    errors.register(app)
    return app
