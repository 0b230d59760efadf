"""Reading a separation request: the song and its options, from JSON or a multipart form."""

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlparse

from flask import Request

from msaas.errors import BadRequest, PayloadTooLarge, UnknownModel
from msaas.options import FIELDS as OPTION_FIELDS
from msaas.options import Options, parse_options

# Browsers' FileReader.readAsDataURL puts this before the base64 text; we drop it.
_DATA_URL_PREFIX = re.compile(r"^data:[\w.+/-]*(;[\w=.+-]+)*;base64,", re.ASCII)
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class Upload:
    """A separation request, checked for shape but not yet for audio."""

    audio: bytes
    model: str
    callback: dict = field(default_factory=dict)
    options: Options | None = None


def read_upload(request: Request, models: tuple[str, ...], max_bytes: int) -> Upload:
    """Parse the request body; raise BadRequest (or a subclass) with what to fix."""
    if request.mimetype == "multipart/form-data":
        audio, fields = _read_form(request)
    else:
        audio, fields = _read_json(request)

    if len(audio) > max_bytes:
        raise PayloadTooLarge("upload too large")
    model = parse_model(fields.get("model"), models)
    return Upload(
        audio=audio,
        model=model,
        callback=parse_callback(fields.get("callback")),
        options=parse_options(model, fields),
    )


def _read_form(request: Request) -> tuple[bytes, dict]:
    """A multipart upload: the song in the file field `mp3`, options in plain fields."""
    song = request.files.get("mp3")
    if song is None:
        raise BadRequest('the form has no file field "mp3"; send it with curl -F mp3=@song.mp3')
    fields: dict = {"model": request.form.get("model")}
    fields.update({name: request.form[name] for name in OPTION_FIELDS if name in request.form})
    if request.form.get("callback"):
        try:
            fields["callback"] = json.loads(request.form["callback"])
        except ValueError:
            raise BadRequest('the form field "callback" must be JSON') from None
    try:
        return song.read(), fields
    finally:
        song.close()


def _read_json(request: Request) -> tuple[bytes, dict]:
    """A JSON body {"mp3": <base64>, "model": ..., "callback": ...}."""
    limit = request.max_content_length
    # A chunked body (no Content-Length) is read up to the limit and cut there without an
    # error; one that fills the limit is taken as larger than it.
    if request.content_length is None and limit and len(request.get_data()) >= limit:
        raise PayloadTooLarge("upload too large")
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:
        # `silent` covers malformed JSON, not JSON nested deeper than the parser goes.
        body = None
    if body is None:
        raise BadRequest(
            'the body is not JSON; send {"mp3": "<base64 of the file>"} or a multipart form'
        )
    if not isinstance(body, dict):
        raise BadRequest('the JSON body must be an object such as {"mp3": "<base64>"}')
    if "mp3" not in body:
        raise BadRequest('the JSON body has no "mp3" field holding the base64 of the song')
    return decode_base64(body["mp3"]), body


def decode_base64(text: object) -> bytes:
    """Decode the `mp3` field. Line breaks and a data: URL prefix are accepted and dropped."""
    if not isinstance(text, str):
        raise BadRequest('the "mp3" field must be a string of base64 text')
    text = _DATA_URL_PREFIX.sub("", text.strip(), count=1)
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest('the "mp3" field is not valid base64') from None


def parse_model(name: object, models: tuple[str, ...]) -> str:
    """The model asked for, or the default; it must be one this service offers."""
    if name is None or name == "":
        return models[0]
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise UnknownModel(f'"model" must be a model name; this service offers {", ".join(models)}')
    if name not in models:
        raise UnknownModel(f'unknown model "{name}"; this service offers {", ".join(models)}')
    return name


def parse_callback(value: object) -> dict:
    """The optional callback: {"url": "http(s)://...", "data": <any JSON>}."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        raise BadRequest('"callback" must be an object with a "url" string')
    url = urlparse(value["url"])
    if url.scheme not in ("http", "https") or not url.hostname:
        raise BadRequest('"callback.url" must be an http or https URL')
    return {"url": value["url"], "data": value.get("data")}
