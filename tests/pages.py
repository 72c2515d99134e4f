"""Reading server-rendered pages the way a person does."""

from __future__ import annotations

import html
import re

_INLINE = re.compile(r"</?(?:time|strong|span|a|em|b|abbr)\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    """What a reader sees: inline tags dropped, block tags as spaces, entities decoded."""
    content = response if isinstance(response, str) else response.content.decode()
    content = _TAG.sub(" ", _INLINE.sub("", content))
    return re.sub(r"\s+", " ", html.unescape(content)).strip()
