"""An aiosmtpd handler that records the messages it accepts, or refuses them on demand (a plain module: no
fixtures, safe to import anywhere; tests/fixtures_smtp.py serves SMTP servers with it)."""

from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any


@dataclass(frozen=True)
class Received:
    """One accepted message: its envelope, whether the session had logged in, and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    authenticated: bool
    message: EmailMessage


@dataclass
class RecordingHandler:
    """aiosmtpd handler keeping what it accepts; set `data_reply` or `rcpt_replies` to refuse instead,
    or queue `data_replies_once` to refuse the next messages one reply each, then accept again."""

    received: list[Received] = field(default_factory=list)
    data_reply: str | None = None
    data_replies_once: list[str] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies_once:
            return self.data_replies_once.pop(0)
        if self.data_reply:
            return self.data_reply
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        assert isinstance(message, EmailMessage)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bool(session.authenticated), message)
        )
        return "250 Message accepted for delivery"

    def reset(self) -> None:
        self.received.clear()
        self.data_reply = None
        self.data_replies_once.clear()
        self.rcpt_replies.clear()
