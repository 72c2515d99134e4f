"""The stock ledger's chain: what makes it tamper-evident.

Each movement carries a SHA-256 over its own content and the digest of the movement before
it on the same stock row (the first one chains to `GENESIS`); each stock row keeps the
digest of its last movement (`Stock.ledger_head`). Changing, removing or inserting a
movement by hand breaks the chain at that movement or the next, and removing the last one
leaves the head pointing at nothing: `inventory.selectors.chain_breaks` names the first
broken link. The root over every row's head (`ledger_root`), mailed to staff each night by
the verification, anchors the history outside the database: a chain rewritten to its head
no longer gives the root that was mailed.

Pure: no Django, no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

GENESIS = ""


# What a movement's digest covers, in this order.
FIELDS = (
    "stock_id",
    "kind",
    "quantity",
    "order_line_id",
    "reason",
    "reference",
    "actor_id",
    "created_at",
)


def movement_digest(previous: str, fields: Sequence[Any]) -> str:
    """The digest of one movement (its `FIELDS`, in order) following the one whose digest
    is `previous`."""
    *content, created_at = fields
    stamp = created_at.astimezone(UTC).isoformat(timespec="microseconds")
    encoded = json.dumps([previous, *content, stamp], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def ledger_root(heads: Iterable[tuple[int, str]]) -> str:
    """One digest over every stock row's head, in stock order."""
    digest = hashlib.sha256()
    for stock_id, head in sorted(heads):
        digest.update(f"{stock_id}:{head}\n".encode())
    return digest.hexdigest()
