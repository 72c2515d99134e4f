"""The mailbox of `make run`: one `.eml` file per email, which a mail program opens."""

import email
import os
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path

from django.core.mail import EmailMultiAlternatives, get_connection, send_mail

from tests.helpers import fresh_setting

ROOT = Path(__file__).resolve().parent.parent.parent


def _parts(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode(part.get_content_charset())
        for part in message.walk()
        if not part.is_multipart()
    }


def test_each_email_is_one_eml_file_a_mail_program_reads(settings, tmp_path):
    settings.EMAIL_BACKEND = "notifications.mailbox.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")

    for number, customer in [("BO-1001", "ayu@example.com"), ("BO-1002", "budi@example.com")]:
        send_mail(
            f"Order {number}: confirmed",
            f"Order {number} ships on 2026-12-09.",
            "Backorder <shop@localhost>",
            [customer],
            html_message=f"<p>Order {number} ships on <time>2026-12-09</time>.</p>",
        )

    files = sorted((tmp_path / "mail").iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    first, second = (email.message_from_bytes(f.read_bytes()) for f in files)
    assert (first["Subject"], first["To"]) == ("Order BO-1001: confirmed", "ayu@example.com")
    assert (second["Subject"], second["To"]) == ("Order BO-1002: confirmed", "budi@example.com")
    assert _parts(second) == {
        "text/plain": "Order BO-1002 ships on 2026-12-09.",
        "text/html": "<p>Order BO-1002 ships on <time>2026-12-09</time>.</p>",
    }
    assert all(os.stat(f).st_mode & 0o044 == 0o044 for f in files)


def test_emails_sent_at_once_from_many_threads_each_get_a_file_of_their_own(tmp_path):
    backend = get_connection("notifications.mailbox.EmailBackend", file_path=str(tmp_path))

    def send(n: int) -> int:
        message = EmailMultiAlternatives(f"Order BO-{n}", "text", "shop@localhost", ["a@b.c"])
        return backend.send_messages([message])

    with ThreadPoolExecutor(max_workers=8) as pool:
        sent = sum(pool.map(send, range(40)))

    files = list(tmp_path.iterdir())
    assert sent == 40
    assert len(files) == 40
    assert all(f.name.endswith(".eml") for f in files)
    subjects = {email.message_from_bytes(f.read_bytes())["Subject"] for f in files}
    assert subjects == {f"Order BO-{n}" for n in range(40)}


def test_an_email_without_recipients_writes_nothing(tmp_path):
    backend = get_connection("notifications.mailbox.EmailBackend", file_path=str(tmp_path))

    sent = backend.send_messages([EmailMultiAlternatives("Order BO-1", "text", "shop@localhost")])

    assert sent == 0
    assert list(tmp_path.iterdir()) == []


def _local_email_backend(**env: str) -> str:
    return fresh_setting("settings.EMAIL_BACKEND", **env)


def test_make_run_writes_to_the_mailbox_unless_an_email_url_says_otherwise():
    assert _local_email_backend() == "notifications.mailbox.EmailBackend"
    assert _local_email_backend(EMAIL_URL="filemail:///srv/mail") == (
        "notifications.mailbox.EmailBackend"
    )
    assert _local_email_backend(EMAIL_URL="smtp://mail.example.com:587") == (
        "django.core.mail.backends.smtp.EmailBackend"
    )
