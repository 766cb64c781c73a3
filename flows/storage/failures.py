"""How storage failures come out: library errors as TransientError (retrying may help: 5xx,
throttling, timeouts, lost connections) or TerminalError (it cannot: access denied, no such
bucket, a bad key), and a missing file as ObjectNotFoundError.
"""

import errno
from collections.abc import Iterator
from contextlib import contextmanager

import botocore.exceptions
from s3fs.core import S3_RETRYABLE_ERRORS

from flows.errors import ExportflowError, TerminalError, TransientError, describe_error

_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionError,
    botocore.exceptions.ConnectionError,
    *S3_RETRYABLE_ERRORS,
)
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.EREMOTEIO,
        errno.EBUSY,
        errno.EAGAIN,
        errno.ETIMEDOUT,
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
    }
)


class ObjectNotFoundError(TerminalError):
    """No stored file under the key (never uploaded, or already expired)."""


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Raise library errors from the block as TransientError or TerminalError."""
    try:
        yield
    except ExportflowError:
        raise
    except Exception as error:
        kind = TransientError if _is_transient(error) else TerminalError
        raise kind(f"storage: {action} failed: {describe_error(error)}") from error


def _is_transient(error: BaseException) -> bool:
    """5xx, 408, 429, timeouts and lost connections anywhere in the chain of causes; other 4xx are not."""
    for link in _causes(error):
        status = _http_status(link)
        if status is not None:
            return status >= 500 or status in (408, 429)
        if isinstance(link, _NETWORK_ERRORS):
            return True
    return isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _http_status(error: BaseException) -> int | None:
    """The HTTP status of a botocore ClientError (s3fs keeps it as the cause of the OSError it raises)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None
