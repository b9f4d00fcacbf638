"""E-mail through the SMTP server the settings name: failure alerts, reports."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from cdpflow.errors import TerminalError, TransientError
from cdpflow.settings import Settings

log = logging.getLogger(__name__)


def send_email(
    settings: Settings, to: str, subject: str, text: str, html: str | None = None
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
