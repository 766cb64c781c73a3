"""Point Prefect at exportflow's settings before Prefect is imported (its settings load on import)."""

import os

from flows.settings import Settings


def configure_prefect(settings: Settings) -> None:
    """Export PREFECT_API_URL from the settings when set, and never send telemetry off this machine."""
    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
