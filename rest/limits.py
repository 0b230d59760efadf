"""Rate limiting of the /apiv1 routes with Flask-Limiter, counted in the service's Redis.

Counting in Redis makes the limit hold across every gunicorn process and every frontend pod.
"""

from flask import Flask, request
from flask_limiter import Limiter

from msaas.config import Settings
from rest import api
from rest.auth import rate_limit_key

# Limiter keys in Redis start with this, apart from the queue's and the jobs' keys.
KEY_PREFIX = "msaas-limits"


# TODO(rate-limit): behind a proxy every client has the proxy's address; read the client's from
# X-Forwarded-For with werkzeug's ProxyFix, trusting a configured number of proxies.
def install_rate_limit(app: Flask, settings: Settings) -> Limiter | None:
    """Limit each API key (or client address) to RATE_LIMIT on /apiv1; nothing when it is empty."""
    if not settings.rate_limit:
        return None
    limiter = Limiter(
        key_func=lambda: rate_limit_key(request),
        app=app,
        storage_uri=settings.redis_url,
        key_prefix=KEY_PREFIX,
        headers_enabled=True,
        # Redis down: serve without limits; the routes that need Redis answer 503 themselves.
        swallow_errors=True,
    )
    # One budget for every /apiv1 route, not one per route.
    limiter.shared_limit(settings.rate_limit, scope="apiv1")(api.blueprint)
    return limiter
