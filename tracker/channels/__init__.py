"""Ways a message leaves the clinic: email over SMTP, the development console, a webhook.

A channel sends one rendered :class:`Message` or raises :class:`DeliveryFailed`
saying whether trying again later could help (``permanent=False``: a 4xx from
SMTP, a refused or timed-out connection, a webhook 5xx) or not (SMTP 5xx,
webhook 4xx). The reason never holds an address, a link or a server's own
words (a server may echo the recipient back), only a code: it is stored on the
outbox row and shown to admins.

Channels know nothing of the database or of Flask: the outbox service
(tracker.services.notifications) decides what to send and what a failure means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """What one outbox row becomes at delivery. ``id`` is stable across retries."""

    id: str  # "<uuid@tracker>": the email's Message-ID, the webhook body's id
    kind: str
    to: str  # the person's email address
    subject: str
    text: str
    link: str | None


class DeliveryFailed(Exception):
    """The channel could not deliver; ``reason`` is a short code safe to store and show."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Channel(Protocol):
    def send(self, message: Message) -> None: ...


def email_channel(smtp_url: str, mail_from: str, timeout: float) -> Channel:
    """The email channel SMTP_URL names: ``console`` or an SMTP server."""
    from tracker.channels.email import ConsoleChannel, SmtpChannel

    if smtp_url == "console":
        return ConsoleChannel(mail_from)
    return SmtpChannel.from_url(smtp_url, mail_from, timeout)


def webhook_channel(url: str, secret: str, timeout: float) -> Channel:
    from tracker.channels.webhook import WebhookChannel

    return WebhookChannel(url, secret, timeout)
