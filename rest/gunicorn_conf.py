"""Gunicorn settings for the REST frontend; PORT and WEB_CONCURRENCY override the defaults."""

import os

DEFAULT_PORT = 5000
DEFAULT_PROCESSES = 2
THREADS_PER_PROCESS = 8
# Uploads of large songs over slow links take a while; stems stream for as long as they need.
REQUEST_TIMEOUT_S = 300

bind = f"0.0.0.0:{os.environ.get('PORT', DEFAULT_PORT)}"
workers = int(os.environ.get("WEB_CONCURRENCY", DEFAULT_PROCESSES))
worker_class = "gthread"
threads = THREADS_PER_PROCESS
timeout = REQUEST_TIMEOUT_S
accesslog = "-"
# The control socket would sit at one path in the home folder, shared by every server on the
# machine (a second stack, the bench); nothing here uses it.
control_socket_disable = True
