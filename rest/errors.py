"""The one place where every failure becomes a JSON error with the right status."""

import logging

import redis
from flask import Flask
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, TooManyRequests

from msaas.errors import BadRequest, NotFound, PayloadTooLarge, Unauthorized, Unavailable

logger = logging.getLogger(__name__)


def error_response(message: str, status: int):
    """A JSON body {"error": message} with `status`."""
    return {"error": message}, status


def register(app: Flask) -> None:
    """Install the error handlers on `app`."""
    max_mb = app.config["MSAAS_SETTINGS"].max_upload_mb

    @app.errorhandler(PayloadTooLarge)
    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        return error_response(
            f"the upload is larger than the limit of {max_mb} MB; send a shorter or more "
            "compressed song",
            413,
        )

    @app.errorhandler(BadRequest)
    def bad_request(error):
        return error_response(str(error), 400)

    @app.errorhandler(Unauthorized)
    def unauthorized(error):
        body, status = error_response(str(error), 401)
        return body, status, {"WWW-Authenticate": 'Bearer realm="msaas"'}

    @app.errorhandler(TooManyRequests)
    def too_many(error):
        # Flask-Limiter adds Retry-After and X-RateLimit-* headers to this answer.
        return error_response(
            f"too many requests (limit: {error.description}); slow down and try again later",
            429,
        )

    @app.errorhandler(NotFound)
    def not_found(error):
        return error_response(str(error), 404)

    @app.errorhandler(Unavailable)
    def unavailable(error):
        logger.warning("service unavailable: %s", error)
        return error_response(f"{error}; try again shortly", 503)

    @app.errorhandler(redis.RedisError)
    def redis_down(error):
        logger.warning("Redis error: %r", error)
        return error_response("the job store (Redis) does not answer; try again shortly", 503)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return error_response(error.description or error.name, error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error):
        logger.exception("unexpected error")
        return error_response("internal error; it has been logged", 500)
