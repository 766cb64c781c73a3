"""Domain errors, raised deep and mapped to HTTP (or to a retry decision) in one place each."""


class ExportflowError(Exception):
    """Base of every error exportflow raises on purpose."""


class TerminalError(ExportflowError):
    """Retrying cannot help: bad input, a forbidden type, a missing row."""


class TransientError(ExportflowError):
    """Worth retrying: a lost connection, a storage timeout, a temporary SMTP refusal."""


class InvalidInputError(TerminalError):
    """A value a caller supplied is wrong; `field` names it the way the caller wrote it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConfigurationError(ExportflowError):
    """The settings cannot run the service (for example a missing secret in production)."""


class ExportCancelled(ExportflowError):
    """The export was cancelled (its row or its Prefect run) while it ran; stop between batches."""


MAX_DESCRIPTION_LENGTH = 300


def describe_error(error: BaseException) -> str:
    """`Type: message`, first line only and at most 300 characters: fit for a log line or a row."""
    return f"{type(error).__name__}: {error}".splitlines()[0][:MAX_DESCRIPTION_LENGTH]


def is_transient(error: BaseException) -> bool:
    """Whether retrying the step that raised `error` can help: only lost connections and timeouts."""
    from adbc_driver_manager import OperationalError as AdbcOperationalError
    from psycopg import OperationalError as PsycopgOperationalError
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, TransientError):
        return True
    if isinstance(error, ExportflowError):
        return False
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated) or isinstance(error.orig, PsycopgOperationalError)
    return isinstance(error, ConnectionError | TimeoutError | PsycopgOperationalError | AdbcOperationalError)
