"""Webhook URLs as callers give them: well-formed, distinct, bounded, and not aimed at private addresses."""

import pytest

from flows.errors import InvalidInputError
from flows.exports.webhook_urls import (
    MAX_WEBHOOK_URLS,
    check_public_targets,
    display_url,
    normalized_webhook_urls,
)


def test_good_urls_are_kept_distinct_with_their_query() -> None:
    urls = [
        "https://Hooks.Example.com/in?token=abc",
        "https://hooks.example.com/in?token=abc",
        "http://a.example",
    ]
    assert normalized_webhook_urls(urls) == ["https://hooks.example.com/in?token=abc", "http://a.example/"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "http or https"),
        ("example.com/hook", "http or https"),
        ("https:///nohost", "must name a host"),
        ("https://user:pw@example.com/x", "credentials"),
        ("https://user@example.com/x", "credentials"),
        ("https://example.com/x#frag", "fragment"),
        ("https://example.com:99999/x", "not a valid URL"),
        ("https://exa mple.com/x", "spaces"),
        ("https://example.com/" + "x" * 2000, "at most 2000"),
    ],
)
def test_a_bad_url_is_an_error_naming_its_index(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        normalized_webhook_urls(["https://ok.example.com/", url])
    assert raised.value.field == "webhook_urls[1]"
    assert message in raised.value.message


def test_at_most_five_urls() -> None:
    urls = [f"https://h{index}.example.com/" for index in range(MAX_WEBHOOK_URLS + 1)]
    with pytest.raises(InvalidInputError) as raised:
        normalized_webhook_urls(urls)
    assert raised.value.field == "webhook_urls"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
    ],
)
def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        check_public_targets(["http://8.8.8.8/ok", url], allow_private=False)
    assert raised.value.field == "webhook_urls[1]"
    check_public_targets([url], allow_private=True)


def test_a_name_that_does_not_resolve_now_passes_the_request_check() -> None:
    check_public_targets(["https://no-such-host.invalid/x"], allow_private=False)


def test_display_url_drops_query_fragment_and_credentials() -> None:
    assert (
        display_url("https://u:p@hooks.example.com:8443/in?token=abc#x")
        == "https://hooks.example.com:8443/in"
    )
