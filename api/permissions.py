"""The seed's permissions and the one table saying which role holds which."""

from collections.abc import Mapping
from enum import StrEnum

from flows.exports.policy import PRIVILEGED_ROLES
from flows.vocabulary import Role


class Permission(StrEnum):
    EXPORTS_READ = "exports.read"
    EXPORTS_CREATE = "exports.create"
    EXPORTS_DELETE = "exports.delete"
    EXPORTS_DOWNLOAD = "exports.download"
    EXPORTS_EXECUTE = "exports.execute"
    EXPORTS_UPDATE = "exports.update"
    SCHEDULES_READ = "exports.schedules.read"
    SCHEDULES_CREATE = "exports.schedules.create"
    SCHEDULES_UPDATE = "exports.schedules.update"
    SCHEDULES_DELETE = "exports.schedules.delete"
    TEMPLATES_READ = "exports.templates.read"
    TEMPLATES_CREATE = "exports.templates.create"
    TEMPLATES_UPDATE = "exports.templates.update"
    TEMPLATES_DELETE = "exports.templates.delete"
    ANALYTICS_READ = "exports.analytics.read"


_MANAGER = frozenset(
    {
        Permission.EXPORTS_READ,
        Permission.EXPORTS_CREATE,
        Permission.EXPORTS_DELETE,
        Permission.EXPORTS_DOWNLOAD,
        Permission.EXPORTS_EXECUTE,
        Permission.EXPORTS_UPDATE,
        Permission.TEMPLATES_READ,
        Permission.TEMPLATES_CREATE,
        Permission.TEMPLATES_UPDATE,
        Permission.TEMPLATES_DELETE,
    }
)

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.SUPER_ADMIN: frozenset(Permission),
    Role.ADMIN: frozenset(Permission),
    Role.MANAGER: _MANAGER,
}


def has_permission(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def sees_everyones_objects(role: Role) -> bool:
    """Object-level rule: the privileged roles see and act on every user's exports and templates;
    any other role only on its own (and on public templates, read-only)."""
    return role in PRIVILEGED_ROLES
