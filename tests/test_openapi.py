"""The OpenAPI document: valid OpenAPI 3.1, and the same routes and methods as the app."""

import re

from openapi_spec_validator import validate

# Methods every Flask route answers on its own; the document describes the ones we wrote.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}


def app_routes(app) -> set[tuple[str, str]]:
    """(path in OpenAPI's {name} form, method) for every rule of the app's URL map."""
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - IMPLICIT_METHODS:
            routes.add((path, method.lower()))
    return routes


def test_openapi_document_is_valid(client):
    response = client.get("/apiv1/openapi.json")

    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.")


def test_openapi_document_describes_every_route_and_no_other(app, client):
    document = client.get("/apiv1/openapi.json").get_json()

    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert described == app_routes(app)


def test_openapi_document_lists_the_models_offered(app, client, settings):
    document = client.get("/apiv1/openapi.json").get_json()

    body = document["paths"]["/apiv1/separate"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["properties"]["model"]["enum"] == list(
        settings.models
    )
