"""The client: one API server and one token; every route, models back, typed errors from the envelope.

with ExportflowClient("http://127.0.0.1:8000", token) as client:
    export = client.create_export(ExportCreate(export_name="Q3", export_type="sales", format="csv"))
    for status in client.events(export.id):
        print(status.status, status.progress_percentage)
    client.download(export.id, Path("q3.csv"))
"""

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from exportflow_client.errors import error_from
from exportflow_client.models.analytics import AnalyticsOut, StatisticsOut
from exportflow_client.models.common import Pagination
from exportflow_client.models.exports import (
    DownloadOut,
    ExecuteByType,
    ExportCreate,
    ExportDetailOut,
    ExportEstimateOut,
    ExportOut,
    ExportStatusOut,
    ResendOut,
)
from exportflow_client.models.schedules import NextRunsOut, ScheduleCreate, ScheduleOut, ScheduleUpdate
from exportflow_client.models.templates import TemplateCreate, TemplateOut, TemplateUpdate
from exportflow_client.models.types import ExportTypeOut
from exportflow_client.models.vocabulary import FINAL_STATUSES, ExportType

M = TypeVar("M", bound=BaseModel)
API_PREFIX = "/api/v1"
SCHEDULES = "/exports/schedules"
TEMPLATES = "/exports/templates"
DOWNLOAD_CHUNK = 1024 * 1024


class ExportflowClient:
    """One API server and one token; pass `http` to reuse a client (tests pass a TestClient)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        token: str | None = None,
        *,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._owns_http = http is None
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __enter__(self) -> "ExportflowClient":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # exports
    def list_exports(self, **filters: Any) -> tuple[list[ExportOut], Pagination]:
        """Filters as the route takes them: type, format, status, date_from, date_to, created_by, page,
        limit, sort_by, sort_order."""
        return self._page(ExportOut, "/exports", filters)

    def create_export(self, request: ExportCreate, *, idempotency_key: str | None = None) -> ExportOut:
        return self._data(ExportOut, "POST", "/exports", payload=_body(request), key=idempotency_key)

    def execute_export(self, request: ExportCreate, *, idempotency_key: str | None = None) -> ExportOut:
        return self._data(ExportOut, "POST", "/exports/execute", payload=_body(request), key=idempotency_key)

    def estimate_export(self, request: ExportCreate) -> ExportEstimateOut:
        """Rows and approximate bytes of the export `request` would make; nothing is stored."""
        return self._data(ExportEstimateOut, "POST", "/exports/estimate", payload=_body(request))

    def execute_type(
        self,
        export_type: ExportType,
        request: ExecuteByType | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ExportOut:
        body = _body(request) if request else None
        path = f"/exports/execute/{export_type.value}"
        return self._data(ExportOut, "POST", path, payload=body, key=idempotency_key)

    def get_export(self, export_id: uuid.UUID, *, include_details: bool = False) -> ExportDetailOut:
        params = {"include_details": "true"} if include_details else None
        return self._data(ExportDetailOut, "GET", f"/exports/{export_id}", params=params)

    def delete_export(self, export_id: uuid.UUID) -> ExportOut:
        return self._data(ExportOut, "DELETE", f"/exports/{export_id}")

    def status(self, export_id: uuid.UUID) -> ExportStatusOut:
        return self._data(ExportStatusOut, "GET", f"/exports/status/{export_id}")

    def cancel(self, export_id: uuid.UUID) -> ExportOut:
        return self._data(ExportOut, "POST", f"/exports/{export_id}/cancel")

    def retry(self, export_id: uuid.UUID) -> ExportOut:
        return self._data(ExportOut, "POST", f"/exports/{export_id}/retry")

    def resend(self, export_id: uuid.UUID) -> ResendOut:
        """Mail and webhook a completed export again (its query is not run again)."""
        return self._data(ResendOut, "POST", f"/exports/{export_id}/resend")

    def events(self, export_id: uuid.UUID) -> Iterator[ExportStatusOut]:
        """The export's status on every change (Server-Sent Events), ending once it is final."""
        path = f"{API_PREFIX}/exports/{export_id}/events"
        with self._http.stream("GET", path, headers=self._headers, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            data: list[str] = []
            for line in response.iter_lines():
                if line.startswith("data:"):
                    data.append(line.removeprefix("data:").strip())
                elif not line and data:
                    yield ExportStatusOut.model_validate(json.loads("\n".join(data)))
                    data = []

    def wait(self, export_id: uuid.UUID) -> ExportStatusOut:
        """Follow the events until the export is final; returns its last status."""
        last = self.status(export_id)
        if last.status in FINAL_STATUSES:
            return last
        for last in self.events(export_id):
            if last.status in FINAL_STATUSES:
                break
        return last

    def download_url(self, export_id: uuid.UUID) -> DownloadOut:
        return self._data(DownloadOut, "GET", f"/exports/{export_id}/download")

    def download(self, export_id: uuid.UUID, target: Path) -> DownloadOut:
        """Save the export's file to `target` (written beside it, then renamed) after checking its sha256."""
        link = self.download_url(export_id)
        partial = target.with_name(f".{target.name}.part")
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", link.download_url) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from(response)
                with partial.open("wb") as output:
                    for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                        digest.update(chunk)
                        output.write(chunk)
            if link.checksum_sha256 and digest.hexdigest() != link.checksum_sha256:
                raise ValueError(f"downloaded file does not match its checksum {link.checksum_sha256}")
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return link

    # schedules
    def list_schedules(self, **filters: Any) -> tuple[list[ScheduleOut], Pagination]:
        """Filters: page, limit, is_active."""
        return self._page(ScheduleOut, SCHEDULES, filters)

    def create_schedule(self, schedule: ScheduleCreate) -> ScheduleOut:
        return self._data(ScheduleOut, "POST", SCHEDULES, payload=_body(schedule))

    def get_schedule(self, schedule_id: uuid.UUID) -> ScheduleOut:
        return self._data(ScheduleOut, "GET", f"{SCHEDULES}/{schedule_id}")

    def update_schedule(self, schedule_id: uuid.UUID, changes: ScheduleUpdate) -> ScheduleOut:
        return self._data(ScheduleOut, "PUT", f"{SCHEDULES}/{schedule_id}", payload=_body(changes))

    def delete_schedule(self, schedule_id: uuid.UUID) -> ScheduleOut:
        return self._data(ScheduleOut, "DELETE", f"{SCHEDULES}/{schedule_id}")

    def pause_schedule(self, schedule_id: uuid.UUID) -> ScheduleOut:
        return self._data(ScheduleOut, "POST", f"{SCHEDULES}/{schedule_id}/pause")

    def resume_schedule(self, schedule_id: uuid.UUID) -> ScheduleOut:
        return self._data(ScheduleOut, "POST", f"{SCHEDULES}/{schedule_id}/resume")

    def next_runs(self, schedule_id: uuid.UUID, count: int = 10) -> NextRunsOut:
        return self._data(NextRunsOut, "GET", f"{SCHEDULES}/{schedule_id}/next-runs", params={"count": count})

    # templates, types, statistics
    def list_templates(self, **filters: Any) -> tuple[list[TemplateOut], Pagination]:
        return self._page(TemplateOut, TEMPLATES, filters)

    def create_template(self, template: TemplateCreate) -> TemplateOut:
        return self._data(TemplateOut, "POST", TEMPLATES, payload=_body(template))

    def update_template(self, template_id: uuid.UUID, changes: TemplateUpdate) -> TemplateOut:
        return self._data(TemplateOut, "PUT", f"{TEMPLATES}/{template_id}", payload=_body(changes))

    def delete_template(self, template_id: uuid.UUID) -> TemplateOut:
        return self._data(TemplateOut, "DELETE", f"{TEMPLATES}/{template_id}")

    def types(self) -> list[ExportTypeOut]:
        return TypeAdapter(list[ExportTypeOut]).validate_python(self._call("GET", "/exports/types")["data"])

    def statistics(self, date_from: str | None = None, date_to: str | None = None) -> StatisticsOut:
        return self._data(StatisticsOut, "GET", "/exports/statistics", params=_period(date_from, date_to))

    def analytics(self, date_from: str | None = None, date_to: str | None = None) -> AnalyticsOut:
        return self._data(AnalyticsOut, "GET", "/exports/analytics", params=_period(date_from, date_to))

    # plumbing
    def _page(self, model: type[M], path: str, filters: Mapping[str, Any]) -> tuple[list[M], Pagination]:
        """One page of a list route; filters left as None are not sent."""
        params = {name: value for name, value in filters.items() if value is not None}
        body = self._call("GET", path, params=params)
        items = TypeAdapter(list[model]).validate_python(body["data"])  # type: ignore[valid-type]
        return items, Pagination.model_validate(body["pagination"])

    def _data(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self._call(method, path, **kwargs)["data"])

    def _call(
        self,
        method: str,
        path: str,
        *,
        payload: Any = None,
        params: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        headers = {**self._headers, **({"Idempotency-Key": key} if key else {})}
        response = self._http.request(
            method, f"{API_PREFIX}{path}", json=payload, params=params, headers=headers
        )
        if response.status_code >= 400:
            raise error_from(response)
        body: dict[str, Any] = response.json()
        return body


def _body(model: BaseModel) -> dict[str, Any]:
    """A request body: only the fields the caller set, so the server's defaults (or a template's) apply."""
    return model.model_dump(mode="json", exclude_unset=True)


def _period(date_from: str | None, date_to: str | None) -> dict[str, str]:
    return {name: value for name, value in {"date_from": date_from, "date_to": date_to}.items() if value}
