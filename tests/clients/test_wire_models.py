"""The client's wire models against the API's own OpenAPI document: per route, the same fields, required-ness,
JSON types and enum values, so a field the API adds, renames or removes fails here."""

import copy
import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from api.app import API_PREFIX, create_app
from exportflow_client import (
    AnalyticsOut,
    DownloadOut,
    ErrorEnvelope,
    ExecuteByType,
    ExportCreate,
    ExportDetailOut,
    ExportEstimateOut,
    ExportflowClient,
    ExportOut,
    ExportStatusOut,
    ExportTypeOut,
    NextRunsOut,
    Pagination,
    ResendOut,
    ScheduleCreate,
    ScheduleOut,
    ScheduleUpdate,
    StatisticsOut,
    TemplateCreate,
    TemplateOut,
    TemplateUpdate,
)
from flows.settings import Settings

Schema = dict[str, Any]
EXPORT = "/exports/{export_id}"
SCHEDULE = "/exports/schedules/{schedule_id}"
TEMPLATE = "/exports/templates/{template_id}"
# (method, path, the success envelope's property, the type the client reads it as)
RESPONSES: list[tuple[str, str, str, Any]] = [
    ("get", "/exports", "data", list[ExportOut]),
    ("get", "/exports", "pagination", Pagination),
    ("post", "/exports", "data", ExportOut),
    ("post", "/exports/execute", "data", ExportOut),
    ("post", "/exports/estimate", "data", ExportEstimateOut),
    ("post", "/exports/execute/{export_type}", "data", ExportOut),
    ("get", EXPORT, "data", ExportDetailOut),
    ("delete", EXPORT, "data", ExportOut),
    ("get", "/exports/status/{export_id}", "data", ExportStatusOut),
    ("post", f"{EXPORT}/cancel", "data", ExportOut),
    ("post", f"{EXPORT}/retry", "data", ExportOut),
    ("post", f"{EXPORT}/resend", "data", ResendOut),
    ("get", f"{EXPORT}/download", "data", DownloadOut),
    ("get", "/exports/schedules", "data", list[ScheduleOut]),
    ("get", "/exports/schedules", "pagination", Pagination),
    ("post", "/exports/schedules", "data", ScheduleOut),
    ("get", SCHEDULE, "data", ScheduleOut),
    ("put", SCHEDULE, "data", ScheduleOut),
    ("delete", SCHEDULE, "data", ScheduleOut),
    ("post", f"{SCHEDULE}/pause", "data", ScheduleOut),
    ("post", f"{SCHEDULE}/resume", "data", ScheduleOut),
    ("get", f"{SCHEDULE}/next-runs", "data", NextRunsOut),
    ("get", "/exports/templates", "data", list[TemplateOut]),
    ("get", "/exports/templates", "pagination", Pagination),
    ("post", "/exports/templates", "data", TemplateOut),
    ("put", TEMPLATE, "data", TemplateOut),
    ("delete", TEMPLATE, "data", TemplateOut),
    ("get", "/exports/types", "data", list[ExportTypeOut]),
    ("get", "/exports/statistics", "data", StatisticsOut),
    ("get", "/exports/analytics", "data", AnalyticsOut),
]
# (method, path, the type of the body the client sends)
REQUESTS: list[tuple[str, str, Any]] = [
    ("post", "/exports", ExportCreate),
    ("post", "/exports/execute", ExportCreate),
    ("post", "/exports/estimate", ExportCreate),
    ("post", "/exports/execute/{export_type}", ExecuteByType | None),
    ("post", "/exports/schedules", ScheduleCreate),
    ("put", SCHEDULE, ScheduleUpdate),
    ("post", "/exports/templates", TemplateCreate),
    ("put", TEMPLATE, TemplateUpdate),
]


@pytest.fixture(scope="module")
def document() -> Schema:
    return create_app(Settings(jwt_secret="unused", signing_secret="unused")).openapi()


def shape(schema: Schema, root: Schema) -> Any:
    """What a schema says of the wire, its `$ref`s resolved in `root`: each object field's required-ness and
    shape, array items, union members, enum values, JSON types with their format; titles, descriptions,
    defaults and limits aside."""
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return shape(target, root)
    if "anyOf" in schema:
        return {"anyOf": sorted((shape(member, root) for member in schema["anyOf"]), key=repr)}
    if "enum" in schema:
        return {"enum": sorted(schema["enum"])}
    kind = schema.get("type", "any")
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", []))
        return {name: (name in required, shape(field, root)) for name, field in schema["properties"].items()}
    if kind == "array":
        return {"array": shape(schema.get("items", {}), root)}
    return f"{kind}:{schema['format']}" if "format" in schema else kind


def client_shape(hint: Any, mode: typing.Literal["validation", "serialization"]) -> Any:
    schema = TypeAdapter(hint).json_schema(mode=mode)
    return shape(schema, schema)


def api_response_shape(document: Schema, method: str, path: str, part: str) -> Any:
    """The shape of one property (data, pagination) of the operation's success envelope."""
    responses = document["paths"][API_PREFIX + path][method]["responses"]
    (success,) = [response for status, response in responses.items() if status.startswith("2")]
    envelope = success["content"]["application/json"]["schema"]
    return shape(envelope, document)[part][1]


def models_in(hint: Any) -> set[type[BaseModel]]:
    """The pydantic models a type names, inside lists, tuples, iterators and unions too."""
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return {hint}
    return {model for argument in typing.get_args(hint) for model in models_in(argument)}


@pytest.mark.parametrize(("method", "path", "part", "hint"), RESPONSES)
def test_what_the_client_reads_is_what_the_api_answers(
    document: Schema, method: str, path: str, part: str, hint: Any
) -> None:
    assert client_shape(hint, "validation") == api_response_shape(document, method, path, part)


@pytest.mark.parametrize(("method", "path", "hint"), REQUESTS)
def test_what_the_client_sends_is_what_the_api_takes(
    document: Schema, method: str, path: str, hint: Any
) -> None:
    body = document["paths"][API_PREFIX + path][method]["requestBody"]["content"]["application/json"]
    assert client_shape(hint, "serialization") == shape(body["schema"], document)


def test_every_error_answer_is_the_clients_error_envelope(document: Schema) -> None:
    expected = client_shape(ErrorEnvelope, "validation")
    different = [
        f"{method} {path} {status}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if status[0] in "45"
        and shape(response["content"]["application/json"]["schema"], document) != expected
    ]
    assert different == []


def test_the_tables_hold_every_model_the_client_sends_or_reads() -> None:
    """A client method with a model that is not checked above fails here."""
    used = {
        model
        for name, method in inspect.getmembers(ExportflowClient, inspect.isfunction)
        if not name.startswith("_")
        for hint in typing.get_type_hints(method).values()
        for model in models_in(hint)
    }
    checked = {model for *_, hint in [*RESPONSES, *REQUESTS] for model in models_in(hint)}
    assert used == checked


def _add(schemas: Schema) -> None:
    schemas["ExportOut"]["properties"]["priority_reason"] = {"type": "string"}


def _rename(schemas: Schema) -> None:
    schemas["ExportOut"]["properties"]["name"] = schemas["ExportOut"]["properties"].pop("export_name")


def _remove(schemas: Schema) -> None:
    del schemas["ExportOut"]["properties"]["attempt"]


def _make_optional(schemas: Schema) -> None:
    schemas["ExportOut"]["required"].remove("record_count")


def _retype(schemas: Schema) -> None:
    schemas["ExportOut"]["properties"]["file_size"] = {"type": "string"}


def _add_a_format(schemas: Schema) -> None:
    schemas["ExportFormat"]["enum"].append("xml")


@pytest.mark.parametrize("change", [_add, _rename, _remove, _make_optional, _retype, _add_a_format])
def test_a_changed_api_fails_the_comparison(document: Schema, change: Callable[[Schema], None]) -> None:
    """The comparison itself: ExportOut as DELETE /exports/{export_id} answers it, before and after."""
    changed = copy.deepcopy(document)
    change(changed["components"]["schemas"])
    client = client_shape(ExportOut, "validation")

    assert api_response_shape(document, "delete", EXPORT, "data") == client
    assert api_response_shape(changed, "delete", EXPORT, "data") != client
