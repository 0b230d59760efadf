"""GET /apiv1/openapi.json: an OpenAPI 3.1 description of every route the app serves.

Written out by hand, next to the routes; tests/test_openapi.py compares it with the app's URL
map and validates it, so a route added without a description fails the suite.
"""

from flask import Blueprint, current_app

from msaas import options

blueprint = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/responses/Error"}
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "The job id (the hash POST /apiv1/separate answered).",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
}
_TRACK = {
    "name": "track",
    "in": "path",
    "required": True,
    "description": "A track of the job, with or without its file extension.",
    "schema": {"type": "string"},
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _option_properties(models: list[str]) -> dict:
    """The option fields of a separation request, shared by the JSON and the form bodies."""
    return {
        "model": {"type": "string", "enum": models, "description": "Default: the first."},
        "stems": {
            "type": "string",
            "enum": ["all", *options.ALL_SOURCES],
            "description": "One stem gives it and its complement no_<stem> (two-stem mode).",
        },
        "format": {"type": "string", "enum": list(options.FORMATS)},
        "bitrate": {
            "type": "integer",
            "enum": list(options.MP3_BITRATES_KBPS),
            "description": "MP3 bitrate in kbit/s; default MP3_BITRATE_KBPS.",
        },
        "shifts": {"type": "integer", "minimum": 1, "maximum": options.MAX_SHIFTS},
        "overlap": {"type": "number", "minimum": 0, "maximum": options.MAX_OVERLAP},
        "callback": {
            "type": "object",
            "required": ["url"],
            "properties": {"url": {"type": "string", "format": "uri"}, "data": {}},
        },
    }


def build_document(models: list[str]) -> dict:
    """The OpenAPI document, with the models this deployment offers."""
    fields = _option_properties(models)
    status = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string", "enum": ["queued", "processing", "done", "failed"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "position": {"type": ["integer", "null"]},
            "tracks": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string"},
            "model": {"type": "string"},
            "options": {"type": "object"},
            "workers": {"type": "integer"},
        },
    }
    audio = {"schema": {"type": "string", "format": "binary"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MSaaS",
            "version": "1",
            "description": "Music separation as a service: send a song, get its stems.",
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": _json(
                    {
                        "type": "object",
                        "required": ["error"],
                        "properties": {"error": {"type": "string"}},
                    },
                    "What is wrong and what to do.",
                )
            },
        },
        "security": [{}, {"apiKey": []}],
        "paths": {
            "/": {
                "get": {
                    "summary": "The web page: upload a song, mix its stems",
                    "security": [],
                    "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
                }
            },
            "/static/{filename}": {
                "get": {
                    "summary": "The web page's scripts and styles",
                    "security": [],
                    "parameters": [
                        {
                            "name": "filename",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": {"description": "The file"}, "404": _ERROR},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "The process answers.")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: Redis and the store answer",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "Ready."), "503": _ERROR},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics: queue, workers, job counts",
                    "security": [],
                    "responses": {
                        "200": {"description": "Text format", "content": {"text/plain": {}}}
                    },
                }
            },
            "/apiv1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
                }
            },
            "/apiv1/separate": {
                "post": {
                    "summary": "Queue the separation of a song",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["mp3"],
                                    "properties": {
                                        "mp3": {"type": "string", "description": "Base64."},
                                        **fields,
                                    },
                                }
                            },
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["mp3"],
                                    "properties": {
                                        "mp3": {"type": "string", "format": "binary"},
                                        **fields,
                                        "callback": {
                                            "type": "string",
                                            "description": "The callback object as JSON text.",
                                        },
                                    },
                                }
                            },
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "hash": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            },
                            "The job id, and whether it was queued or existed already.",
                        ),
                        "400": _ERROR,
                        "401": _ERROR,
                        "413": _ERROR,
                        "429": _ERROR,
                        "503": _ERROR,
                    },
                }
            },
            "/apiv1/queue": {
                "get": {
                    "summary": "Waiting job ids, the next to be served first",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "queue": {"type": "array", "items": {"type": "string"}}
                                },
                            },
                            "The queue.",
                        ),
                        "401": _ERROR,
                    },
                }
            },
            "/apiv1/status/{job_id}": {
                "get": {
                    "summary": "Where a job stands",
                    "parameters": [_JOB_ID],
                    "responses": {
                        "200": _json(status, "State, progress, position, tracks."),
                        "401": _ERROR,
                        "404": _ERROR,
                    },
                }
            },
            "/apiv1/track/{job_id}/{track}": {
                "get": {
                    "summary": "Download one stem, in the job's format",
                    "parameters": [_JOB_ID, _TRACK],
                    "responses": {
                        "200": {
                            "description": "The stem",
                            "content": {
                                content_type: audio for _, content_type in options.FORMATS.values()
                            },
                        },
                        "401": _ERROR,
                        "404": _ERROR,
                    },
                }
            },
            "/apiv1/remove/{job_id}/{track}": {
                method: {
                    "summary": "Delete one stem; deleting the last one deletes the job",
                    "parameters": [_JOB_ID, _TRACK],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "hash": {"type": "string"},
                                    "removed": {"type": "string"},
                                    "tracks": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                            "What was removed and what is left.",
                        ),
                        "401": _ERROR,
                        "404": _ERROR,
                    },
                }
                for method in ("get", "delete")
            },
        },
    }


@blueprint.get("/apiv1/openapi.json")
def openapi():
    """The OpenAPI document; it needs no API key."""
    settings = current_app.config["MSAAS_SETTINGS"]
    return build_document(list(settings.models))
