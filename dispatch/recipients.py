"""Who gets the morning digest: each organisation's own addresses, and the division's list for the summary.

Flush, never commit; every change is audited (object_type "recipient") in the caller's transaction.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from . import audit
from .actors import Actor
from .errors import Refusal
from .extensions import db
from .models import Organisation, Recipient, RecipientKind
from .text import normalise

# The division's own list: the whole-disaster summary rather than one organisation's digest.
DIVISION_LABEL = "総合防災課（全体の集計）"

MAX_EMAIL_LENGTH = 254
MAX_NOTE_LENGTH = 200

# Deliberately plain: what mail servers accept in practice, not all of RFC 5322. The local part is
# dot-separated atoms; the domain has at least two labels of letters, digits and inner hyphens.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$")


def normalise_email(text: str) -> str:
    """The address as stored: trimmed, full-width characters made half-width, the domain in lower case."""
    address = normalise(text)
    if not address:
        raise Refusal("メールアドレスを入力してください。")
    if len(address) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(address):
        raise Refusal(f"「{address}」はメールアドレスの形式ではありません（例: bousai@city.example.lg.jp）。")
    local, domain = address.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def recipient_snapshot(recipient: Recipient) -> dict[str, Any]:
    org = recipient.organisation
    return {
        "kind": recipient.kind,
        "organisation": org.code if org else None,
        "organisation_name": org.name if org else DIVISION_LABEL,
        "email": recipient.email,
        "active": recipient.active,
        "note": recipient.note,
        "send_empty": recipient.send_empty,
    }


def recipient_label(recipient: Recipient) -> str:
    """Whose address this is, as the audit trail and the pages name it."""
    owner = recipient.organisation.label if recipient.organisation else DIVISION_LABEL
    return f"{owner} {recipient.email}"


def find_recipient(organisation: Organisation | None, email: str) -> Recipient | None:
    """The same address on the same list, whatever its case (mail systems treat it as one mailbox)."""
    stmt = select(Recipient).where(func.lower(Recipient.email) == email.lower())
    if organisation is None:
        stmt = stmt.where(Recipient.kind == RecipientKind.DIVISION.value)
    else:
        stmt = stmt.where(Recipient.organisation_id == organisation.id)
    return db.session.scalar(stmt)


def add_recipient(
    organisation: Organisation | None,
    email: str,
    *,
    actor: Actor,
    note: str = "",
    send_empty: bool = False,
) -> Recipient:
    """An address for an organisation's digest, or (organisation None) for the division's summary."""
    address = normalise_email(email)
    note = _clean_note(note)
    if find_recipient(organisation, address) is not None:
        owner = organisation.name if organisation else DIVISION_LABEL
        raise Refusal(f"「{address}」は{owner}の配信先に登録済みです。")
    recipient = Recipient(
        kind=(RecipientKind.ORGANISATION if organisation else RecipientKind.DIVISION).value,
        organisation=organisation,
        email=address,
        note=note,
        send_empty=send_empty,
        active=True,
    )
    db.session.add(recipient)
    db.session.flush()
    audit.record(
        "create",
        "recipient",
        recipient.id,
        actor=actor,
        after=recipient_snapshot(recipient),
        summary=recipient_label(recipient),
    )
    return recipient


def update_recipient(
    recipient: Recipient,
    *,
    actor: Actor,
    active: bool | None = None,
    note: str | None = None,
    send_empty: bool | None = None,
) -> bool:
    """Change what was given; True when anything changed (and was audited)."""
    before = recipient_snapshot(recipient)
    if active is not None:
        recipient.active = active
    if note is not None:
        recipient.note = _clean_note(note)
    if send_empty is not None:
        recipient.send_empty = send_empty
    db.session.flush()
    after = recipient_snapshot(recipient)
    if after == before:
        return False
    audit.record(
        "update",
        "recipient",
        recipient.id,
        actor=actor,
        before=before,
        after=after,
        summary=recipient_label(recipient),
    )
    return True


def set_active(recipient: Recipient, active: bool, *, actor: Actor) -> bool:
    return update_recipient(recipient, actor=actor, active=active)


def delete_recipient(recipient: Recipient, *, actor: Actor) -> None:
    """Gone with its delivery history (the database cascades); deactivating keeps the history."""
    audit.record(
        "delete",
        "recipient",
        recipient.id,
        actor=actor,
        before=recipient_snapshot(recipient),
        summary=recipient_label(recipient),
    )
    db.session.delete(recipient)
    db.session.flush()


def list_recipients(organisation_id: int | None = None) -> list[Recipient]:
    """The division's list first, then organisations by code; one organisation's when it is given."""
    stmt = select(Recipient).outerjoin(Organisation, Recipient.organisation_id == Organisation.id)
    if organisation_id is not None:
        stmt = stmt.where(Recipient.organisation_id == organisation_id)
    return list(
        db.session.scalars(
            stmt.order_by(Organisation.code.is_not(None), Organisation.code, Recipient.email, Recipient.id)
        )
    )


def _clean_note(note: str) -> str:
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise Refusal(f"備考は{MAX_NOTE_LENGTH}文字以内で入力してください。")
    return note
