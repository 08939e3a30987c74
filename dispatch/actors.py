"""Who is acting: the one type every use case takes, whether a person, a command or the scheduler."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Role


@dataclass(frozen=True)
class Actor:
    """Who is writing: the name stamped on entries and audit records, and what the role allows."""

    name: str
    role: Role

    @property
    def may_amend_closed_days(self) -> bool:
        return self.role in (Role.ADMIN, Role.REVIEWER)


# Commands run by an operator on the server act with an administrator's rights.
CLI_ACTOR = Actor("cli", Role.ADMIN)
DEMO_ACTOR = Actor("seed-demo", Role.ADMIN)
