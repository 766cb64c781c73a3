"""Recipient links: signed, bound to one export and address, never valid beyond the file's expiry."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from flows.exports.recipient_links import (
    PATH_PREFIX,
    RecipientLinkExpired,
    RecipientLinkInvalid,
    recipient_claims,
    recipient_url,
    sign_recipient_link,
    verify_recipient_link,
)
from flows.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, signing_secret="s" * 48, recipient_link_max_age_seconds=3600)


def test_a_link_round_trips_and_lives_until_the_earlier_of_its_age_and_the_file(settings: Settings) -> None:
    export_id = uuid.uuid4()
    soon = datetime.now(UTC) + timedelta(minutes=5)
    claims = recipient_claims(settings, export_id, "ana@corp.local", "ab" * 32, soon)
    assert claims.valid_until == soon
    later = recipient_claims(settings, export_id, "ana@corp.local", "ab" * 32, soon + timedelta(days=3))
    assert later.valid_until < soon + timedelta(hours=1, seconds=5)

    token = sign_recipient_link(settings, claims)
    assert verify_recipient_link(settings, token) == claims
    assert recipient_url(settings, claims) == f"http://127.0.0.1:8000{PATH_PREFIX}{token}"
    with pytest.raises(RecipientLinkExpired):
        verify_recipient_link(settings, token, now=soon)


def test_altered_foreign_and_download_tokens_are_refused(settings: Settings, tmp_path: Path) -> None:
    claims = recipient_claims(settings, uuid.uuid4(), "ana@corp.local", "ab" * 32, None)
    token = sign_recipient_link(settings, claims)
    other = Settings(home=tmp_path, signing_secret="t" * 48)
    download_token = URLSafeTimedSerializer("s" * 48, salt="exportflow.download-link").dumps(
        claims.model_dump(mode="json")
    )
    for bad in (token[:-2] + "xx", download_token, "not-a-token"):
        with pytest.raises(RecipientLinkInvalid):
            verify_recipient_link(settings, bad)
    with pytest.raises(RecipientLinkInvalid):
        verify_recipient_link(other, token)
