"""The one way to find an organisation, an operation or a duty from what a person typed.

Forms, the importer, page filters and the CLI all resolve text here, so the same text finds the same thing
everywhere. After normalisation (NFKC, so full-width digits and half-width kana are plain; surrounding
spaces trimmed, inner runs of spaces made one), the first rule that matches decides:

- organisations: the code (052019; 53619, the code Excel cut short of its leading zero; 05201, the
  five-digit code without its check digit; X0001 for other bodies), then a datalist choice
  ("052019 秋田市"), the exact name or the kana (hiragana or katakana), then a prefix of the name or of
  the kana (「横手」, 「よこて」 → 横手市);
- operations (of one disaster) and duties: the code or the exact name, then a prefix of the name.

A designated city's ward (指定都市の区, 仙台市青葉区) is part of its city, not a body: it is never found (so
「仙台」 means 仙台市 alone), and naming one is refused with what to give instead, the city as the
organisation and the ward as the sender unit (所属). A deactivated body is still found (lists and filters
reach its entries); what may name it in a new entry is the entries' rule (entries.draft_problems).

A prefix is at least two characters. When a rule matches more than one, the text is refused naming the
candidates rather than tried against the next rule: an exact name shared by two bodies never falls back to
a prefix. Refusals are ``LookupRefused``: ``str()`` is the message, ``candidates`` is empty when nothing
matched and names every match when the text was ambiguous.

One look-up (a page filter, a CLI option) calls the module functions, which read the catalogue::

    try:
        org = find_organisation(text)  # or role="派遣元": 「派遣元「…」が見つかりません。」
    except LookupRefused as exc:
        errors["sender"] = str(exc)  # 「「…」に当たる団体が見つかりません。」 or the candidates

    # CLI: raise click.ClickException(str(exc)) from None

Many look-ups (a file of a million rows) load the catalogue once and resolve from memory, without a query
per row: ``organisations = Organisations.load()`` then ``organisations.find(text)`` for each distinct text;
likewise ``Operations(disaster)`` and ``Duties.load()``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Generic, NamedTuple, TypeVar

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import aliased

from .errors import LookupRefused
from .extensions import db
from .models import Disaster, Duty, Operation, Organisation, OrgKind, lg_check_digit
from .text import normalise, to_katakana

__all__ = [
    "Duties",
    "LookupRefused",
    "Operations",
    "Organisations",
    "find_duty",
    "find_operation",
    "find_organisation",
    "organisations_named",
]

T = TypeVar("T")

# A refusal names this many candidates, then says how many more there are.
CANDIDATES_IN_MESSAGE = 10
WARD = OrgKind.WARD.value
# A single character is too little to be a deliberate choice: 「横」 would pick 横手市 until 横浜市 is added.
MIN_PREFIX = 2


def clean(text: str) -> str:
    """Typed text as it is compared: NFKC, trimmed, one space between words."""
    return " ".join(normalise(text).split())


class _Named(NamedTuple):
    """How a candidate is shown in a refusal: candidates are listed in the catalogue's order."""

    code: str
    name: str


@dataclass(frozen=True)
class _Keys:
    """How one item may be named: exact codes, exact names, and the names a prefix may start."""

    codes: tuple[str, ...]
    names: tuple[str, ...]
    prefixed: tuple[str, ...]


class _Index(Generic[T]):
    """Every key of one catalogue in dicts and one sorted list, so that resolving never queries."""

    def __init__(
        self, noun: str, items: Iterable[T], keys: Callable[[T], _Keys], named: Callable[[T], _Named]
    ) -> None:
        self.noun = noun
        self._items = list(items)
        self._named = named
        self._codes: dict[str, list[int]] = {}
        self._names: dict[str, list[int]] = {}
        prefixed: set[tuple[str, int]] = set()
        for position, item in enumerate(self._items):
            item_keys = keys(item)
            for code in item_keys.codes:
                self._codes.setdefault(code, []).append(position)
            for name in item_keys.names:
                self._names.setdefault(name, []).append(position)
            prefixed.update((name, position) for name in item_keys.prefixed if name)
        self._sorted = sorted(prefixed)
        self._sorted_keys = [name for name, _ in self._sorted]

    def resolve(self, text: str, codes: Sequence[str], names: Sequence[str], role: str | None) -> T:
        """The one item the first matching rule finds: codes, then exact names, then name prefixes."""
        rules: list[Callable[[], set[int]]] = [
            lambda: self._exact(self._codes, codes),
            lambda: self._exact(self._names, names),
            lambda: self._prefixed(names),
        ]
        for rule in rules:
            found = rule()
            if len(found) == 1:
                return self._items[found.pop()]
            if found:
                raise self._ambiguous(text, found, role)
        raise LookupRefused(self._unknown(text, role))

    def suggest(self, codes: Sequence[str], names: Sequence[str], limit: int) -> list[T]:
        """What the text may be heading for, for type-ahead: every item a rule matches (a code, a name, a
        prefix), in the catalogue's order, at most ``limit``."""
        found = self._exact(self._codes, codes) | self._exact(self._names, names) | self._prefixed(names)
        return [self._items[p] for p in sorted(found)[:limit]]

    @staticmethod
    def _exact(keys: dict[str, list[int]], wanted: Sequence[str]) -> set[int]:
        return {position for key in wanted for position in keys.get(key, ())}

    def _prefixed(self, wanted: Sequence[str]) -> set[int]:
        found: set[int] = set()
        for prefix in wanted:
            if len(prefix) < MIN_PREFIX:
                continue
            index = bisect_left(self._sorted_keys, prefix)
            while index < len(self._sorted) and self._sorted_keys[index].startswith(prefix):
                found.add(self._sorted[index][1])
                index += 1
        return found

    def _unknown(self, text: str, role: str | None) -> str:
        if role:
            return f"{role}「{text}」が見つかりません。"
        return f"「{text}」に当たる{self.noun}が見つかりません。"

    def _ambiguous(self, text: str, positions: set[int], role: str | None) -> LookupRefused:
        candidates = [self._named(self._items[p]) for p in sorted(positions)]
        shown = [f"{c.name}（{c.code}）" for c in candidates]
        listed = "、".join(shown[:CANDIDATES_IN_MESSAGE])
        if len(shown) > CANDIDATES_IN_MESSAGE:
            listed += f"、ほか{len(shown) - CANDIDATES_IN_MESSAGE}件"
        # Candidates that all carry the typed name can only be told apart by their codes.
        named_alike = all(clean(c.name) == text for c in candidates)
        advice = "コードで入力してください。" if named_alike else "コードか正式名で入力してください。"
        subject = f"{role or ''}「{text}」"
        return LookupRefused(f"{subject}に当たる{self.noun}が複数あります: {listed}。{advice}", shown)


# --- organisations --------------------------------------------------------------------------------------


class _OrgRow(NamedTuple):
    """The columns a look-up reads: loading 1,800 of these is a third of the cost of ORM objects."""

    id: int
    code: str
    name: str
    kana: str


def _org_keys(row: _OrgRow) -> _Keys:
    name = clean(row.name)
    kana = clean(row.kana)
    return _Keys(
        codes=(row.code.upper(),),
        names=tuple(key for key in (name, f"{row.code.upper()} {name}", kana) if key),
        prefixed=(name, kana),
    )


def _org_named(row: _OrgRow) -> _Named:
    return _Named(row.code, row.name)


def _code_forms(text: str) -> list[str]:
    """The codes a text may mean: itself, and for four or five digits the six-digit code it was cut from."""
    code = text.upper()
    if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 5):
        return [code]
    # 53619: Excel dropped the leading zero of 053619. 05361 or 5361: the code without its check digit.
    five = code.zfill(5)
    return [code, code.zfill(6), five + lg_check_digit(five)]


class Organisations:
    """Every organisation in memory: load once, then find as often as needed."""

    def __init__(self, rows: Iterable[_OrgRow], held: Sequence[Organisation] = ()) -> None:
        self._index = _org_index(tuple(rows))
        # Objects held here stay in the session, so that finding one of them never queries.
        self._held = held

    @classmethod
    def load(cls, *, many: bool = False) -> Organisations:
        """The catalogue in code order (団体コード順, as candidates are listed); ``many`` when the caller will
        find many (a file): every object is read at once, so that finding one never queries.

        A designated city's ward is part of its city, never a sender or a destination: it is not in the
        catalogue, and naming one is refused with the city and the sender unit to give instead."""
        if many:
            held = list(
                db.session.scalars(
                    select(Organisation).where(Organisation.kind != WARD).order_by(Organisation.code)
                )
            )
            return cls((_OrgRow(o.id, o.code, o.name, o.kana) for o in held), held)
        org = Organisation.__table__.c
        rows = db.session.execute(
            select(org.id, org.code, org.name, org.kana).where(org.kind != WARD).order_by(org.code)
        )
        return cls(_OrgRow(*row) for row in rows)

    def find(self, text: str, *, role: str | None = None) -> Organisation:
        """The organisation the text names, or LookupRefused; ``role`` (派遣元, 派遣先 …) heads the message."""
        cleaned = clean(text)
        names = list(dict.fromkeys((cleaned, to_katakana(cleaned))))
        try:
            row = self._index.resolve(cleaned, _code_forms(cleaned), names, role)
        except LookupRefused as exc:
            if exc.candidates:
                raise
            raise _ward_refusal(cleaned, names, role) or exc from None
        return db.session.get_one(Organisation, row.id)

    def suggest(self, text: str, limit: int) -> list[str]:
        """Labels ("052035 横手市") of the organisations the text may be heading for (type-ahead)."""
        cleaned = clean(text)
        names = list(dict.fromkeys((cleaned, to_katakana(cleaned))))
        return [f"{row.code} {row.name}" for row in self._index.suggest(_code_forms(cleaned), names, limit)]


def _ward_refusal(cleaned: str, names: Sequence[str], role: str | None) -> LookupRefused | None:
    """When the text names a designated city's ward (by code or full name): the refusal that says to give
    its city, with the ward as the sender unit (所属). Read only when nothing else matched."""
    code, _, rest = cleaned.partition(" ")
    ward = aliased(Organisation)
    city = aliased(Organisation)
    found = db.session.execute(
        select(ward.name, city.name)
        .join(city, ward.parent_id == city.id)
        .where(
            ward.kind == WARD,
            or_(ward.code == code.upper(), ward.name.in_(names), ward.kana.in_(names)),
        )
        .limit(1)
    ).first()
    if found is None or (rest and clean(rest) != clean(found[0])):
        return None
    ward_name, city_name = found
    unit = ward_name.removeprefix(city_name)
    return LookupRefused(
        f"{role or ''}「{cleaned}」は{city_name}の区です。団体には{city_name}を、所属に{unit}を入力してください。"
    )


# The index of the rows last read. Reading the rows costs a third of building from them (3 and 9 ms for
# 1,800), and they rarely change: an index is reused for as long as the rows are the same.
_ORG_INDEXES: dict[tuple[_OrgRow, ...], _Index[_OrgRow]] = {}


def _org_index(rows: tuple[_OrgRow, ...]) -> _Index[_OrgRow]:
    index = _ORG_INDEXES.get(rows)
    if index is None:
        index = _Index("団体", rows, _org_keys, _org_named)
        _ORG_INDEXES.clear()  # one catalogue is current; older rows are never read again
        _ORG_INDEXES[rows] = index
    return index


def find_organisation(
    text: str, *, role: str | None = None, named: dict[str, Organisation] | None = None
) -> Organisation:
    """One look-up; see the module's rules. A six-digit code or a datalist choice ("052019 秋田市"), which is
    what forms send, is one indexed query, or none when `named` (organisations_named of every text the form
    holds) has it; anything else reads the catalogue."""
    return _by_full_code(clean(text), named) or Organisations.load().find(text, role=role)


# Built once: every entry form's POST asks (building a statement costs more Python than its seek).
_BY_CODES = select(Organisation).where(
    Organisation.code.in_(bindparam("codes", expanding=True)), Organisation.kind != WARD
)


def organisations_named(texts: Iterable[str]) -> dict[str, Organisation]:
    """By code, the organisations whose six-digit codes the texts start with, in one statement: a form that
    names a sender and a destination looks both up at once."""
    codes = {code for code in (_full_code(clean(text)) for text in texts) if code}
    if not codes:
        return {}
    found = db.session.scalars(_BY_CODES, {"codes": sorted(codes)})
    return {org.code: org for org in found}


def _full_code(cleaned: str) -> str | None:
    code = cleaned.partition(" ")[0]
    return code if len(code) == 6 and code.isascii() and code.isdigit() else None


def _by_full_code(cleaned: str, named: dict[str, Organisation] | None = None) -> Organisation | None:
    """The organisation whose six-digit code the text starts with, when the rest (if any) is its name: the
    first rule, answered without the catalogue. None sends the text through the whole index."""
    code = _full_code(cleaned)
    if code is None:
        return None
    # `named` holds every code of the form's texts, this one's included: a code it lacks names no body.
    found = (organisations_named([cleaned]) if named is None else named).get(code)
    rest = cleaned.partition(" ")[2]
    if found is None or (rest and rest != clean(found.name)):
        return None
    return found


# --- operations and duties --------------------------------------------------------------------------------


def _named_keys(code: str, name: str) -> _Keys:
    cleaned = clean(name)
    return _Keys(codes=(code.casefold(),), names=(cleaned,), prefixed=(cleaned,))


class Operations:
    """The operations (派遣区分) of one disaster, by code or name."""

    def __init__(self, disaster: Disaster) -> None:
        self._index = _Index(
            "派遣区分",
            disaster.operations,
            lambda op: _named_keys(op.code, op.name),
            lambda op: _Named(op.code, op.name),
        )

    def find(self, text: str, *, role: str | None = None) -> Operation:
        cleaned = clean(text)
        return self._index.resolve(cleaned, [cleaned.casefold()], [cleaned], role)

    def suggest(self, text: str, limit: int) -> list[str]:
        cleaned = clean(text)
        return [op.name for op in self._index.suggest([cleaned.casefold()], [cleaned], limit)]


def find_operation(disaster: Disaster, text: str, *, role: str | None = None) -> Operation:
    return Operations(disaster).find(text, role=role)


class Duties:
    """Every duty (業務), by code or Japanese name."""

    def __init__(self, duties: Iterable[Duty]) -> None:
        self.every = list(duties)  # in id order, as a form lists them

    @cached_property
    def _index(self) -> _Index[Duty]:
        # Built when first asked: the entry form's page lists the duties and never looks one up.
        return _Index(
            "業務",
            self.every,
            lambda duty: _named_keys(duty.code, duty.name_ja),
            lambda duty: _Named(duty.code, duty.name_ja),
        )

    @classmethod
    def load(cls) -> Duties:
        return cls(db.session.scalars(select(Duty).order_by(Duty.id)))

    def find(self, text: str, *, role: str | None = None) -> Duty:
        cleaned = clean(text)
        return self._index.resolve(cleaned, [cleaned.casefold()], [cleaned], role)

    def suggest(self, text: str, limit: int) -> list[str]:
        cleaned = clean(text)
        return [duty.name_ja for duty in self._index.suggest([cleaned.casefold()], [cleaned], limit)]


def find_duty(text: str, *, role: str | None = None) -> Duty:
    return Duties.load().find(text, role=role)
