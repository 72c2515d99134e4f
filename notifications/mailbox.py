"""The mailbox of `make run`: every email one `.eml` file, which any mail program opens.

Django's file backend writes one `.log` file per sending batch, the messages run together;
this one writes `<dir>/<UTC timestamp>-<n>.eml` per message. Names sort by the time the
message was written, and a file appears whole (written under a hidden name, then linked in
place), under a name no other process or thread can take.
"""

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime

from django.core.mail import EmailMessage
from django.core.mail.backends.filebased import EmailBackend as FileBackend


class EmailBackend(FileBackend):
    """`EMAIL_FILE_PATH` (made if missing, as Django's file backend does) receives the mail."""

    file_path: str

    def open(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                self.message_write(message.message().as_bytes())
            except Exception:
                if not self.fail_silently:
                    raise
            else:
                sent += 1
        return sent

    def message_write(self, content: bytes) -> str:
        """Write one message as a new `.eml` file and return its path."""
        descriptor, temporary = tempfile.mkstemp(dir=self.file_path, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
            # mkstemp makes the file private; a mailbox file is as readable as any other.
            os.chmod(temporary, 0o644)
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S.%f")
            n = 1
            while True:
                path = os.path.join(self.file_path, f"{stamp}-{n}.eml")
                try:
                    # Unlike a rename, a link never replaces a file another writer just made.
                    os.link(temporary, path)
                except FileExistsError:
                    n += 1
                else:
                    return path
        finally:
            os.unlink(temporary)
