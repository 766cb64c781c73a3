"""Who may export what: the privileged roles (super_admin, admin) may export every type, other
roles only the types the settings do not list as sensitive (settings.sensitive_export_types).

The API's object-level rule (api/permissions.py) grants the same roles everyone's exports and templates.
"""

from flows.settings import Settings
from flows.vocabulary import ExportType, Role

PRIVILEGED_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN})


def is_sensitive(export_type: ExportType, settings: Settings) -> bool:
    return export_type in settings.sensitive_export_types


def may_export(role: Role, export_type: ExportType, settings: Settings) -> bool:
    """Sensitive types (settings.sensitive_export_types) are for super_admin and admin only."""
    return role in PRIVILEGED_ROLES or not is_sensitive(export_type, settings)
