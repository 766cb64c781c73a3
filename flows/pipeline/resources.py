"""What the steps of one export run work with, made once when the run starts and passed to each task."""

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import app_sessions
from flows.settings import Settings, get_settings
from flows.storage.store import Storage, open_storage


@dataclass(frozen=True)
class Resources:
    settings: Settings
    sessions: sessionmaker[Session]
    storage: Storage

    @classmethod
    def configured(cls) -> "Resources":
        """This process's settings, app-database sessions and storage."""
        settings = get_settings()
        return cls(settings, app_sessions(), open_storage(settings))
