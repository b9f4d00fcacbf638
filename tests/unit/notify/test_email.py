"""The message send_email hands a real SMTP server (aiosmtpd on loopback): who it goes to,
its parts and attachments, and errors that name what to fix without the password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fakes.smtp import Inbox, smtp_inbox
from support.ports import free_port

from cdpflow.errors import TerminalError, TransientError
from cdpflow.notify.email import Attachment, send_email
from cdpflow.settings import Settings, load_settings

PASSWORD = "Sm7pPassw0rdXyz"
PNG = b"\x89PNG\r\n\x1a\n-chart-"


def mail_settings(tmp_path: Path, port: int, **env: str) -> Settings:
    return load_settings(
        env={"CDPFLOW_SMTP_HOST": "127.0.0.1", "CDPFLOW_SMTP_PORT": str(port), **env},
        home=tmp_path / "home",
    )


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_inbox() as box:
        yield box


def test_a_text_message_goes_to_every_comma_separated_address(tmp_path: Path, inbox: Inbox) -> None:
    settings = mail_settings(tmp_path, inbox.port, CDPFLOW_SMTP_FROM="reports@shop.example.com")
    send_email(settings, "a@shop.example.com, b@shop.example.com", "Daily numbers", "12 orders\n")
    ((recipients, message),) = inbox.messages
    assert recipients == ["a@shop.example.com", "b@shop.example.com"]
    assert message["From"] == "reports@shop.example.com"
    assert message["To"] == "a@shop.example.com, b@shop.example.com"
    assert message["Subject"] == "Daily numbers"
    assert not message.is_multipart()
    assert message.get_content().splitlines() == ["12 orders"]


def test_html_with_inline_images_and_files_as_attachments(tmp_path: Path, inbox: Inbox) -> None:
    files = [
        Attachment("revenue-0.png", PNG, "image/png", "chart0.revenue@cdpflow"),
        Attachment("revenue.csv", b"day,revenue\r\n2026-11-19,99.99\r\n", "text/csv"),
    ]
    html = "<p>Revenue</p><img src='cid:chart0.revenue@cdpflow'>"
    send_email(mail_settings(tmp_path, inbox.port), "a@b.co", "Report", "Revenue\n", html, files)
    ((_, message),) = inbox.messages
    text, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and text.get_content().splitlines() == ["Revenue"]
    assert rich is not None and rich.get_content().strip() == html
    related = message.get_body(("related",))
    assert related is not None
    (image,) = [p for p in related.iter_parts() if p.get_content_type() == "image/png"]
    assert (image["Content-ID"], image.get_filename(), image.get_content()) == (
        "<chart0.revenue@cdpflow>",
        "revenue-0.png",
        PNG,
    )
    attached = [(p.get_filename(), p.get_content_type()) for p in message.iter_attachments()]
    assert attached == [("revenue.csv", "text/csv")]


def test_without_html_an_inline_image_is_a_plain_attachment(tmp_path: Path, inbox: Inbox) -> None:
    image = Attachment("revenue-0.png", PNG, "image/png", "chart0.revenue@cdpflow")
    send_email(mail_settings(tmp_path, inbox.port), "a@b.co", "Report", "Revenue\n", None, [image])
    ((_, message),) = inbox.messages
    (part,) = message.iter_attachments()
    assert (part.get_filename(), part.get_content_type(), part.get_content()) == (
        "revenue-0.png",
        "image/png",
        PNG,
    )


def test_no_smtp_host_is_terminal_and_names_the_setting(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path / "home")
    with pytest.raises(
        TerminalError, match=r"Cannot e-mail `a@b\.co`: CDPFLOW_SMTP_HOST is not set"
    ):
        send_email(settings, "a@b.co", "Report", "text")


def test_a_server_that_does_not_answer_is_transient_without_the_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    settings = mail_settings(
        tmp_path, port, CDPFLOW_SMTP_USER="reports", CDPFLOW_SMTP_PASSWORD=PASSWORD
    )
    with pytest.raises(
        TransientError, match=f"Could not send e-mail through 127.0.0.1:{port}"
    ) as failure:
        send_email(settings, "a@b.co", "Report", "text")
    assert PASSWORD not in str(failure.value)


@contextmanager
def login_inbox(user: str, password: str) -> Iterator[Inbox]:
    """aiosmtpd that requires AUTH (without TLS, as on a trusted loopback)."""

    def authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and (auth_data.password == password.encode())
        )
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535

    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=inbox.port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


# loopback needs no TLS, which aiosmtpd warns of; aiosmtpd 1.4 warns of its own login_data
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")
def test_the_login_is_used_and_a_refused_one_is_terminal_without_the_password(
    tmp_path: Path,
) -> None:
    with login_inbox("reports", PASSWORD) as inbox:
        good = mail_settings(
            tmp_path, inbox.port, CDPFLOW_SMTP_USER="reports", CDPFLOW_SMTP_PASSWORD=PASSWORD
        )
        send_email(good, "a@b.co", "Report", "text", "<p>text</p>")
        ((_, message),) = inbox.messages
        assert PASSWORD.encode() not in message.as_bytes()  # the login's, not the message's
        wrong = "Wr0ngPassw0rdAbc"
        bad = mail_settings(
            tmp_path, inbox.port, CDPFLOW_SMTP_USER="reports", CDPFLOW_SMTP_PASSWORD=wrong
        )
        with pytest.raises(TerminalError) as failure:
            send_email(bad, "a@b.co", "Report", "text")
        assert str(failure.value) == (
            f"SMTP server 127.0.0.1:{inbox.port} refused the login of `reports`; check "
            "CDPFLOW_SMTP_USER and CDPFLOW_SMTP_PASSWORD."
        )
        assert wrong not in str(failure.value.__cause__)
        assert len(inbox.messages) == 1
