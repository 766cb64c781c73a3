"""Email addresses as exportflow accepts them: the syntax checked in full, internal domains welcome.

Company mail often lives on special-use or single-label domains (`ana@corp.local`, `ops@localhost`,
`bi@mailhost`); email-validator refuses those by default, as it assumes globally deliverable mail.
Its documented switch is to remove names from `SPECIAL_USE_DOMAIN_NAMES` (a process-wide list):
`local`, `localhost` and `test` are removed here; `invalid`, `onion` and `arpa` stay refused (no mail
can be delivered there). Display names, quoted local parts, domain literals, CR and LF are refused.
"""

import email_validator
from email_validator import EmailNotValidError, validate_email

from flows.errors import InvalidInputError

INTERNAL_DOMAIN_NAMES = ("local", "localhost", "test")

for _name in INTERNAL_DOMAIN_NAMES:
    if _name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove(_name)


def normalized_address(value: str, field: str) -> str:
    """The normalised address (domain lower-cased), or InvalidInputError naming `field`."""
    try:
        return validate_email(value, check_deliverability=False, globally_deliverable=False).normalized
    except EmailNotValidError as error:
        raise InvalidInputError(field, f"not a valid email address: {error}") from None
