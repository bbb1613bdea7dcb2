"""Email: SMTP with the standard library, or the development console."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from tracker.channels import DeliveryFailed, Message

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}

console_log = logging.getLogger("tracker.channels.console")


def build_email(message: Message, mail_from: str) -> EmailMessage:
    """The same Message-ID on every attempt, so a receiver can drop a repeat."""
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = message.id
    email.set_content(message.text)
    return email


@dataclass(frozen=True)
class SmtpChannel:
    host: str
    port: int
    scheme: str
    username: str | None
    password: str | None
    mail_from: str
    timeout: float

    @classmethod
    def from_url(cls, url: str, mail_from: str, timeout: float) -> SmtpChannel:
        """``smtp://[user:pass@]host:port``, ``smtp+starttls://…`` or ``smtps://…``."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(
                "SMTP_URL must be console, smtp://host:port, smtp+starttls://… or smtps://…"
            )
        return cls(
            host=parts.hostname,
            port=parts.port or SCHEMES[parts.scheme],
            scheme=parts.scheme,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            mail_from=mail_from,
            timeout=timeout,
        )

    def _connect(self) -> smtplib.SMTP:
        if self.scheme == "smtps":
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.scheme == "smtp+starttls":
            server.starttls(context=ssl.create_default_context())
        return server

    def send(self, message: Message) -> None:
        email = build_email(message, self.mail_from)
        try:
            with self._connect() as server:
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(email)
        except smtplib.SMTPRecipientsRefused as refused:
            codes = [code for code, _text in refused.recipients.values()]
            raise _by_code(min(codes) if codes else 550) from None
        except smtplib.SMTPResponseException as error:  # sender, data, auth, connect replies
            raise _by_code(error.smtp_code) from None
        except smtplib.SMTPServerDisconnected:
            raise DeliveryFailed("SMTP server disconnected", permanent=False) from None
        except TimeoutError:
            raise DeliveryFailed("SMTP timeout", permanent=False) from None
        except ConnectionRefusedError:
            raise DeliveryFailed("SMTP connection refused", permanent=False) from None
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryFailed(f"SMTP {type(error).__name__}", permanent=False) from None


def _by_code(code: int) -> DeliveryFailed:
    """SMTP's own rule: 4xx means try again later, 5xx means never."""
    return DeliveryFailed(f"SMTP {code}", permanent=500 <= code < 600)


@dataclass(frozen=True)
class ConsoleChannel:
    """Development only: prints each message, link included, to the worker's log.

    This is the one place where a questionnaire link (which carries a token)
    is written to a log, on purpose: a developer running ``make run`` has no
    mail server and must be able to click the link. The worker refuses to
    start with ``SMTP_URL=console`` in production, and every other log of the
    app keeps tokens out.
    """

    mail_from: str

    def send(self, message: Message) -> None:
        email = build_email(message, self.mail_from)
        console_log.info("email (SMTP_URL=console, not sent):\n%s", email.as_string())
