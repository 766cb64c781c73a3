"""`exportflow users` and `exportflow tokens`: accounts, API tokens and bearer JWTs from the command line."""

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from deployments.cli_support import EXIT_USAGE, console, errors, load_settings, require_migrated, usage_errors
from flows.appdb.engine import app_sessions, transaction
from flows.appdb.identity import create_user, find_user, issue_access_token, issue_api_token, revoke_api_token
from flows.appdb.models import User
from flows.errors import ConfigurationError, InvalidInputError
from flows.vocabulary import Role

users_app = typer.Typer(help="App users and their roles.", no_args_is_help=True)
tokens_app = typer.Typer(help="Long-lived API tokens and bearer JWTs.", no_args_is_help=True)

TOKEN_NAME_MAX = 100

Email = Annotated[str, typer.Option("--email", help="The user's email address.")]


def _ready() -> None:
    require_migrated(load_settings().database_url)


@users_app.command("create")
def users_create(
    email: Email,
    role: Annotated[Role, typer.Option("--role", help="super_admin, admin or manager.")],
    first_name: Annotated[str, typer.Option("--first-name", help="Given name.")] = "",
    last_name: Annotated[str, typer.Option("--last-name", help="Family name.")] = "",
) -> None:
    """Add an active user with a role."""
    _ready()
    with usage_errors(), transaction(app_sessions()) as session:
        user = create_user(session, email, role, first_name=first_name, last_name=last_name)
    console.print(f"user {user.email} ({user.role}) created: {user.id}")


@users_app.command("list")
def users_list() -> None:
    """Print every user with their role."""
    _ready()
    with app_sessions()() as session:
        users = session.scalars(select(User).order_by(User.email)).all()
    table = Table("email", "role", "name", "active", "created", "id")
    for user in users:
        name = f"{user.first_name} {user.last_name}".strip()
        table.add_row(
            user.email,
            user.role,
            name,
            "yes" if user.is_active else "no",
            f"{user.created_at:%Y-%m-%d}",
            str(user.id),
        )
    console.print(table)


@tokens_app.command("create")
def tokens_create(
    email: Email,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "",
) -> None:
    """Create an API token and print it once: the token alone on stdout, everything else on stderr."""
    _ready()
    with usage_errors(), transaction(app_sessions()) as session:
        if len(name) > TOKEN_NAME_MAX:
            raise InvalidInputError("name", f"at most {TOKEN_NAME_MAX} characters")
        token, secret = issue_api_token(session, _user(session, email), name)
    errors.print(f"API token {token.token_prefix}... created for {email}; it is shown only this once:")
    typer.echo(secret)


@tokens_app.command("revoke")
def tokens_revoke(
    prefix: Annotated[str, typer.Argument(help="The token's shown prefix (its first 11 characters).")],
) -> None:
    """Revoke the live API token(s) with this prefix."""
    _ready()
    with usage_errors(), transaction(app_sessions()) as session:
        revoked = revoke_api_token(session, prefix)
        if not revoked:
            raise InvalidInputError("prefix", f"no live API token starts with {prefix!r}")
    console.print(f"revoked {revoked} API token(s)")


@tokens_app.command("jwt")
def tokens_jwt(
    email: Email,
    minutes: Annotated[
        int | None,
        typer.Option(
            "--minutes",
            min=1,
            help="Lifetime (default EXPORTFLOW_ACCESS_TOKEN_TTL_MINUTES).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print a bearer JWT for a user (alone on stdout), signed with the HS256 secret."""
    settings = load_settings()
    require_migrated(settings.database_url)
    with usage_errors(), app_sessions()() as session:
        user_id = _user(session, email).id
    try:
        token = issue_access_token(settings, user_id, ttl=timedelta(minutes=minutes) if minutes else None)
    except ConfigurationError as error:
        errors.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(EXIT_USAGE) from error
    typer.echo(token)


def _user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise InvalidInputError("email", f"no user with {email}")
    return user
