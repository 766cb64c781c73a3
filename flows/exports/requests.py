"""An export request, checked in full before a row is stored: from a caller, or again from a stored one."""

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from flows.appdb.models import DataExport, ExportSchedule
from flows.catalog.query import check_choices
from flows.email_addresses import normalized_address
from flows.errors import InvalidInputError
from flows.exports.webhook_urls import normalized_webhook_urls
from flows.render import ExportOptions
from flows.vocabulary import Delivery, ExportFormat, ExportType

MAX_RECIPIENTS = 20


M = TypeVar("M", bound=BaseModel)


def printable_name(value: str) -> str:
    """Names are shown in lists, emails and file names: not blank, no control characters; stripped."""
    if not value.strip() or any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise ValueError("must be printable text")
    return value.strip()


def parse_model(model: type[M], data: dict[str, Any]) -> M:
    """Validate `data` as `model`; the first mistake becomes InvalidInputError naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidInputError(field, first["msg"].removeprefix("Value error, ")) from None


class ExportRequest(BaseModel):
    """What a caller asks for; `validated()` turns every mistake into InvalidInputError(field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    export_name: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(printable_name)]
    export_type: ExportType
    format: ExportFormat
    columns: list[str] | None = None
    filters: dict[str, Any] = Field(default_factory=dict)
    recipients: list[str] = Field(default_factory=list)
    options: ExportOptions = Field(default_factory=ExportOptions)
    deliver: Delivery = Delivery.ALWAYS
    webhook_urls: list[str] = Field(default_factory=list)

    @classmethod
    def validated(cls, data: dict[str, Any]) -> "ExportRequest":
        """Parse and check a request, including its columns and filters against the catalog."""
        request = parse_model(cls, data)
        check_choices(request.export_type, columns=request.columns, filters=request.filters)
        return request.model_copy(
            update={
                "recipients": normalized_recipients(request.recipients),
                "webhook_urls": normalized_webhook_urls(request.webhook_urls),
            }
        )

    @classmethod
    def again(cls, stored: DataExport | ExportSchedule, export_name: str) -> "ExportRequest":
        """The request a stored export or schedule was made from, under a new name, checked anew
        (the catalog may have changed since)."""
        return cls.validated(
            {
                "export_name": export_name,
                "export_type": stored.export_type,
                "format": stored.format,
                "columns": stored.columns or None,
                "filters": stored.filters,
                "recipients": stored.recipients,
                "options": stored.options if isinstance(stored, DataExport) else {},
                "deliver": stored.deliver,
                "webhook_urls": stored.webhook_urls,
            }
        )


def normalized_recipients(values: list[str]) -> list[str]:
    """Distinct, normalised addresses; a bad one is an error naming `recipients[i]`."""
    normalized: dict[str, None] = {}
    for index, value in enumerate(values):
        normalized[normalized_address(value, f"recipients[{index}]")] = None
    if len(normalized) > MAX_RECIPIENTS:
        raise InvalidInputError("recipients", f"at most {MAX_RECIPIENTS} distinct recipients")
    return list(normalized)
