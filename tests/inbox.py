"""The SMTP side of the notifier tests: an aiosmtpd handler that keeps what arrives."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any, cast


class Inbox:
    """aiosmtpd handler keeping every message it receives, parsed as a mail client reads it (the
    modern policy: folded headers unfolded, `get_body`/`get_content` for the parts)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), cast(EmailMessage, message)))
        return "250 OK"
