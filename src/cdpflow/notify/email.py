"""E-mail through the SMTP server the settings name: failure alerts, reports."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from cdpflow.errors import TerminalError, TransientError
from cdpflow.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message: a download, or (with `content_id`) an image the HTML part
    shows inline as `<img src="cid:<content_id>">`."""

    filename: str
    data: bytes
    mime_type: str  # "text/csv", "image/png"
    content_id: str | None = None


def send_email(
    settings: Settings,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> None:
    """Send one message to the comma-separated `to` addresses.

    Raises:
        TerminalError: no SMTP server is configured, or it refused the login.
        TransientError: the server could not be reached or answered with a failure.
    """
    if not settings.smtp_host:
        raise TerminalError(
            f"Cannot e-mail `{to}`: CDPFLOW_SMTP_HOST is not set. Set it (and CDPFLOW_SMTP_PORT)."
        )
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
        html_part = message.get_body(("html",))
        assert html_part is not None
        for inline in (a for a in attachments if a.content_id):
            kind, _, sub = inline.mime_type.partition("/")
            html_part.add_related(
                inline.data, kind, sub, cid=f"<{inline.content_id}>", filename=inline.filename
            )
    for file in (a for a in attachments if not (html and a.content_id)):
        kind, _, sub = file.mime_type.partition("/")
        message.add_attachment(file.data, kind, sub, filename=file.filename)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as err:
        raise TerminalError(
            f"SMTP server {settings.smtp_host}:{settings.smtp_port} refused the login of "
            f"`{settings.smtp_user}`; check CDPFLOW_SMTP_USER and CDPFLOW_SMTP_PASSWORD."
        ) from err
    except (OSError, smtplib.SMTPException) as err:
        raise TransientError(
            f"Could not send e-mail through {settings.smtp_host}:{settings.smtp_port}: {err}"
        ) from err
    log.info("e-mailed %r to %s", subject, to)
