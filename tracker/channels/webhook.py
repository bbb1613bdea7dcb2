"""The webhook channel: a signed JSON POST, for an SMS gateway or the clinic's messaging system."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from tracker.channels import DeliveryFailed, Message

SIGNATURE_HEADER = "X-Tracker-Signature"


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>``: the receiver recomputes it over the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(message: Message) -> bytes:
    payload = {
        "id": message.id,
        "kind": message.kind,
        "to": message.to,
        "text": message.text,
        "link": message.link,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would re-send the body (and its link) somewhere not configured: refuse it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_opener = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class WebhookChannel:
    url: str
    secret: str
    timeout: float

    def send(self, message: Message) -> None:
        body = body_of(message)
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(body, self.secret),
                "User-Agent": "tracker-webhook",
            },
        )
        try:
            with _opener.open(request, timeout=self.timeout) as answer:
                answer.read(1024)
        except urllib.error.HTTPError as error:
            code = error.code
            # 408 and 429 ask to come back later; any other 4xx (or a 3xx) will not change.
            temporary = code >= 500 or code in (408, 429)
            raise DeliveryFailed(f"webhook HTTP {code}", permanent=not temporary) from None
        except TimeoutError:
            raise DeliveryFailed("webhook timeout", permanent=False) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                raise DeliveryFailed("webhook timeout", permanent=False) from None
            name = type(reason).__name__
            raise DeliveryFailed(f"webhook {name}", permanent=False) from None
