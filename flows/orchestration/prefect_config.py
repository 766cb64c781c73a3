"""Point Prefect at exportflow's settings (Prefect reads its own settings once, when first imported)."""

import os
import sys

from flows.settings import Settings


def configure_prefect(settings: Settings) -> None:
    """Export PREFECT_API_URL from the settings when set, never send telemetry off this machine, and
    skip the CSRF token requests a server without CSRF protection does not need.

    If Prefect is already imported, its global settings are read again so the change takes effect.
    """
    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect servers protect nothing with CSRF tokens unless PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED
    # is set; without this every new client first asks for a token and gets a 422 (~10 requests a run).
    os.environ.setdefault("PREFECT_CLIENT_CSRF_SUPPORT_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if "prefect.context" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
