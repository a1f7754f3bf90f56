"""The statutory rule registry: every period the engine enforces, with its legal basis.

Rules are data (rules.json beside this module), never code. A rule may have several versions
under one id, each in force for a window of dates (`effective_from` .. `effective_to`, both
inclusive), so that a law revision adds a version instead of rewriting history: the SME-payment
regulation of 2020 and its 2025 revision are both kept, and a contract is judged by the text in
force on the date the caller chooses (its signing date, see DOMAIN.md §6).

Entries are of two kinds. Periods (`Rule`, the default kind) are counted from an event and read
with `RuleRegistry.get`. Limits (`Limit`, "kind": "cap" | "exemption" | "prohibition" | "interest") bound the
terms a contract may agree (or, "interest", give the late-payment rate when it agrees none) — a guarantee rate, a bond amount, a number of months — and are read
with `RuleRegistry.limit` and `RuleRegistry.limits_for`. The two kinds keep separate id spaces,
because one DOMAIN.md rule may set both a period and a cap: D07 caps the government procurement
bid bond at 2 % and sets its refund period.

A third kind, publicity (`Publicity`, "kind": "publicity"), says how long a credit record (失信信息) is
published by the severity class of its decision: not at all (warnings, 通报批评), for a number of months,
with the earliest month from which credit repair may end it; or, as a cap ("cap_months"), at most how
long any record is published (Henan's 5 years). Read with `RuleRegistry.publicity_for`.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

UNITS = ("days", "workdays")  # 日 (calendar days) and 工作日 (working days)

# Verification marks of DOMAIN.md §0: primary text, secondary only, unchecked, local, derived.
VERIFICATION_MARKS = ("P", "S", "U", "L", "D")

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.json")

# The kinds of limit entry; an entry without "kind" (or with "period") is a period Rule.
LIMIT_KINDS = ("cap", "floor", "exemption", "prohibition", "interest", "form", "ground")

# The bid-bond forms that post no money, which a "form" limit may allow for its tracks and categories.
MONEYLESS_BOND_FORMS = ("commitment_letter", "not_required")

# The contract terms a limit bounds (its `subject`, and a prohibition's `together_with`).
LIMIT_SUBJECTS = ("bid_bond", "performance_guarantee", "retention", "defect_liability", "supplementary_contracts",
                  "late_payment", "advance_payment", "progress_payment", "contract_changes", "termination")

# What a percentage cap is a percentage of, in the words of the legal text.
PERCENT_BASES = ("contract_amount", "estimated_price", "budget_amount", "settlement_price", "measured_value")

# The scope a limit may be narrowed to: procurement track and object category (DOMAIN.md §1).
TRACKS = ("tendering", "gov_procurement")
CATEGORIES = ("works", "goods", "services")

# Organisation.credit_rating values, best first.
CREDIT_RATINGS = ("AAA", "AA", "A", "B", "C")

# The severity classes of an administrative decision behind a credit record (DOMAIN.md S03, §7).
SEVERITIES = ("warning", "general", "serious")

_RULE_ID = re.compile(r"[A-Z][A-Z0-9_-]*")
_EVENT = re.compile(r"[a-z][a-z0-9_]*")


def _json_form(entry) -> dict:
    """A registry entry's rules.json form: its fields with dates ISO, decimals as strings, tuples as lists; None
    fields left out, except effective_to (null: still in force)."""
    data = {}
    for f in fields(entry):
        value = getattr(entry, f.name)
        if value is None and f.name != "effective_to":
            continue
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        data[f.name] = value
    return data


class UnknownRule(KeyError):
    """No rule with this id, or no version of it in force on the requested date."""

    def __str__(self) -> str:
        # KeyError would show the message in quotes, as if it were the missing key.
        return str(self.args[0])


@dataclass(frozen=True)
class Rule:
    """One version of a statutory period: `days` of `unit` counted from `start_event`.

    `cap` is the longest period a contract may agree instead (None: no cap). `verified` is the
    DOMAIN.md mark. The version is in force from `effective_from` to `effective_to` inclusive
    (None: still in force).
    """

    id: str
    title: str
    days: int
    unit: str
    start_event: str
    legal_basis: str
    verified: str
    effective_from: date
    effective_to: date | None = None
    cap: int | None = None
    note: str | None = None
    # A tier of a period graded by amount (C04: the settlement review period by the settlement report's amount):
    # the version applies to amounts from this (CNY, inclusive) up to the next tier's; None: any amount.
    amount_from: Decimal | None = None

    def __post_init__(self) -> None:
        where = f"rule {self.id!r}"
        _check_entry(self, where, "G05")
        if not _positive_int(self.days):
            raise ValueError(f"{where}: days must be a positive integer, got {self.days!r}")
        if self.unit not in UNITS:
            raise ValueError(f"{where}: unit must be one of {UNITS}, got {self.unit!r}")
        if not isinstance(self.start_event, str) or not _EVENT.fullmatch(self.start_event):
            raise ValueError(f"{where}: start_event must be a snake_case name, got {self.start_event!r}")
        if self.cap is not None and not (_positive_int(self.cap) and self.cap >= self.days):
            raise ValueError(f"{where}: cap must be an integer no smaller than days ({self.days}), got {self.cap!r}")
        if not _plain_date(self.effective_from):
            raise ValueError(f"{where}: effective_from must be a date")
        if self.effective_to is not None and not (
            _plain_date(self.effective_to) and self.effective_to >= self.effective_from
        ):
            raise ValueError(f"{where}: effective_to must be a date on or after effective_from")
        if self.note is not None and (not isinstance(self.note, str) or not self.note.strip()):
            raise ValueError(f"{where}: note must be a non-empty string when present")
        if self.amount_from is not None and not (_decimal(self.amount_from) and self.amount_from >= 0):
            raise ValueError(f"{where}: amount_from must be a non-negative decimal, got {self.amount_from!r}")

    def in_force_on(self, day: date) -> bool:
        """True when this version applies on `day`."""
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def window(self) -> str:
        """The effective window as text, e.g. "2020-09-01..2025-05-31" or "2025-06-01..", for messages."""
        end = self.effective_to.isoformat() if self.effective_to else ""
        return f"{self.effective_from.isoformat()}..{end}"

    @classmethod
    def from_dict(cls, data: Mapping) -> Rule:
        """A rule from its rules.json form; ValueError naming the rule and the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a rule must be a JSON object, got {type(data).__name__}")
        where = f"rule {data.get('id')!r}"
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name not in ("effective_to", "cap", "note", "amount_from")}
        if missing := required - set(data):
            raise ValueError(f"{where}: missing {sorted(missing)}")
        if unknown := set(data) - known:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
        values = dict(data)
        for name in ("effective_from", "effective_to"):
            if values.get(name) is not None:
                values[name] = _parse_date(values[name], f"{where}: {name}")
        if values.get("amount_from") is not None:
            values["amount_from"] = _parse_decimal(values["amount_from"], f"{where}: amount_from")
        return cls(**values)

    def to_dict(self) -> dict:
        """The rules.json form of this version."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["effective_from"] = self.effective_from.isoformat()
        data["effective_to"] = self.effective_to.isoformat() if self.effective_to else None
        if self.amount_from is None:
            data.pop("amount_from")
        else:
            data["amount_from"] = str(self.amount_from)
        return data


@dataclass(frozen=True)
class Limit:
    """One version of a statutory limit on a contract term (`subject`), with its legal basis.

    Four kinds:

    * "cap": the term may not exceed exactly one of `max_percent` (a percentage, 10 means 10 %,
      of the amount named by `of`), `max_amount` (CNY) or `max_months`; `default_months` is the
      period the law gives when the contract is silent (only beside `max_months`);
    * "exemption": a bidder whose credit rating is in `exempt_ratings` may be exempted from the
      term (the credit offset of deposits): from all of it, or from `exempt_percent` of it (e.g. 50,
      a local rule halving the bond; None means 100, the whole term);
    * "floor": the term may not be below `min_percent` (of the amount named by `of`), e.g. a progress payment of
      at least 80 % of the measured value (C03);
    * "prohibition": the term may not be agreed together with `together_with`;
    * "interest": the late-payment interest the law gives when the contract agrees no rate,
      `percent_per_day` (a percentage, 0.05 means 万分之五 a day) of the amount overdue (P05);
    * "form": the bid bond may take one of `forms` (MONEYLESS_BOND_FORMS: a credit commitment letter
      投标信用承诺函, or no bond at all) on the contracts it covers;
    * "ground": no figure, the legal ground of an act on the contract (`subject` contract_changes or
      termination): the basis a change of the ledger or a termination keeps (engine/supervision/changes.py,
      termination.py name the ids).

    `tracks` and `categories` narrow the limit to procurement tracks and object categories (None:
    every one). `verified` is the DOMAIN.md mark; the version is in force from `effective_from` to
    `effective_to` inclusive (None: still in force).
    """

    id: str
    kind: str
    title: str
    subject: str
    legal_basis: str
    verified: str
    effective_from: date
    effective_to: date | None = None
    max_percent: Decimal | None = None
    min_percent: Decimal | None = None
    of: str | None = None
    max_amount: Decimal | None = None
    max_months: int | None = None
    default_months: int | None = None
    exempt_ratings: tuple[str, ...] | None = None
    exempt_percent: Decimal | None = None
    together_with: str | None = None
    percent_per_day: Decimal | None = None
    forms: tuple[str, ...] | None = None
    tracks: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        where = f"limit {self.id!r}"
        _check_entry(self, where, "D05")
        if self.kind not in LIMIT_KINDS:
            raise ValueError(f"{where}: kind must be one of {LIMIT_KINDS}, got {self.kind!r}")
        if self.subject not in LIMIT_SUBJECTS:
            raise ValueError(f"{where}: subject must be one of {LIMIT_SUBJECTS}, got {self.subject!r}")
        if not _plain_date(self.effective_from):
            raise ValueError(f"{where}: effective_from must be a date")
        if self.effective_to is not None and not (
            _plain_date(self.effective_to) and self.effective_to >= self.effective_from
        ):
            raise ValueError(f"{where}: effective_to must be a date on or after effective_from")
        for name, allowed in (("tracks", TRACKS), ("categories", CATEGORIES)):
            value = getattr(self, name)
            if value is not None and not _distinct_from(value, allowed):
                raise ValueError(f"{where}: {name} must be a non-empty list of distinct values from {allowed}")
        if self.note is not None and (not isinstance(self.note, str) or not self.note.strip()):
            raise ValueError(f"{where}: note must be a non-empty string when present")
        self._check_kind_fields(where)

    def _check_kind_fields(self, where: str) -> None:
        bounds = [name for name in ("max_percent", "max_amount", "max_months") if getattr(self, name) is not None]
        allowed = {
            "cap": {"max_percent", "of", "max_amount", "max_months", "default_months"},
            "floor": {"min_percent", "of"},
            "exemption": {"exempt_ratings", "exempt_percent"},
            "prohibition": {"together_with"},
            "interest": {"percent_per_day"},
            "form": {"forms"},
            "ground": set(),
        }[self.kind]
        kind_fields = ("max_percent", "min_percent", "of", "max_amount", "max_months", "default_months", "exempt_ratings",
                       "exempt_percent", "together_with", "percent_per_day", "forms")
        if stray := [name for name in kind_fields if getattr(self, name) is not None and name not in allowed]:
            raise ValueError(f"{where}: a {self.kind} does not take {stray}")
        if self.kind == "cap":
            if len(bounds) != 1:
                raise ValueError(f"{where}: a cap needs exactly one of max_percent, max_amount, max_months; got {bounds}")
            # A period is bounded in months, every other subject in money or as a percentage.
            if (self.subject == "defect_liability") != (self.max_months is not None):
                raise ValueError(f"{where}: a cap on defect_liability takes max_months, and only it does")
            if self.max_percent is not None:
                if not (_decimal(self.max_percent) and 0 < self.max_percent <= 100):
                    raise ValueError(f"{where}: max_percent must be a decimal in (0, 100], got {self.max_percent!r}")
                if self.of not in PERCENT_BASES:
                    raise ValueError(f"{where}: a max_percent needs 'of', one of {PERCENT_BASES}, got {self.of!r}")
            elif self.of is not None:
                raise ValueError(f"{where}: 'of' goes only with max_percent")
            if self.max_amount is not None and not (_decimal(self.max_amount) and self.max_amount > 0):
                raise ValueError(f"{where}: max_amount must be a positive decimal, got {self.max_amount!r}")
            if self.max_months is not None and not _positive_int(self.max_months):
                raise ValueError(f"{where}: max_months must be a positive integer, got {self.max_months!r}")
            if self.default_months is not None and not (
                self.max_months is not None and _positive_int(self.default_months)
                and self.default_months <= self.max_months
            ):
                raise ValueError(f"{where}: default_months must be a positive integer no larger than max_months")
        elif self.kind == "floor":
            if not (_decimal(self.min_percent) and 0 < self.min_percent <= 100):
                raise ValueError(f"{where}: min_percent must be a decimal in (0, 100], got {self.min_percent!r}")
            if self.of not in PERCENT_BASES:
                raise ValueError(f"{where}: a min_percent needs 'of', one of {PERCENT_BASES}, got {self.of!r}")
        elif self.kind == "exemption":
            if not _distinct_from(self.exempt_ratings, CREDIT_RATINGS):
                raise ValueError(f"{where}: exempt_ratings must be a non-empty list of distinct values from {CREDIT_RATINGS}")
            if self.exempt_percent is not None and not (_decimal(self.exempt_percent) and 0 < self.exempt_percent <= 100):
                raise ValueError(f"{where}: exempt_percent must be a decimal in (0, 100], got {self.exempt_percent!r}")
        elif self.kind == "interest":
            if not (_decimal(self.percent_per_day) and 0 < self.percent_per_day <= 100):
                raise ValueError(f"{where}: percent_per_day must be a decimal in (0, 100], got {self.percent_per_day!r}")
        elif self.kind == "form":
            if self.subject != "bid_bond" or not _distinct_from(self.forms, MONEYLESS_BOND_FORMS):
                raise ValueError(f"{where}: a form limit is on bid_bond, with forms a non-empty list of distinct "
                                 f"values from {MONEYLESS_BOND_FORMS}")
        elif self.kind == "ground":
            if self.subject not in ("contract_changes", "termination"):
                raise ValueError(f"{where}: a ground is on contract_changes or termination")
        elif self.together_with not in LIMIT_SUBJECTS or self.together_with == self.subject:
            raise ValueError(f"{where}: together_with must be another subject from {LIMIT_SUBJECTS}")

    def in_force_on(self, day: date) -> bool:
        """True when this version applies on `day`."""
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def applies_to(self, track: str, category: str) -> bool:
        """True when this limit covers contracts of `track` and `category`."""
        return (self.tracks is None or track in self.tracks) and (
            self.categories is None or category in self.categories
        )

    def window(self) -> str:
        """The effective window as text, e.g. "2017-07-01..", for messages."""
        end = self.effective_to.isoformat() if self.effective_to else ""
        return f"{self.effective_from.isoformat()}..{end}"

    @classmethod
    def from_dict(cls, data: Mapping) -> Limit:
        """A limit from its rules.json form (decimals as strings, lists for tuples); ValueError
        naming the limit and the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a limit must be a JSON object, got {type(data).__name__}")
        where = f"limit {data.get('id')!r}"
        known = {f.name for f in fields(cls)}
        required = {"id", "kind", "title", "subject", "legal_basis", "verified", "effective_from"}
        if missing := required - set(data):
            raise ValueError(f"{where}: missing {sorted(missing)}")
        if unknown := set(data) - known:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
        values = dict(data)
        for name in ("effective_from", "effective_to"):
            if values.get(name) is not None:
                values[name] = _parse_date(values[name], f"{where}: {name}")
        for name in ("max_percent", "min_percent", "max_amount", "exempt_percent", "percent_per_day"):
            if values.get(name) is not None:
                values[name] = _parse_decimal(values[name], f"{where}: {name}")
        for name in ("exempt_ratings", "forms", "tracks", "categories"):
            if values.get(name) is not None:
                if not isinstance(values[name], list):
                    raise ValueError(f"{where}: {name} must be a list")
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict:
        """The rules.json form of this version (None fields left out, except effective_to)."""
        return _json_form(self)


@dataclass(frozen=True)
class Publicity:
    """One version of a publicity rule for credit records (公示期), with its legal basis.

    A period entry covers the decisions of `severities` (on contracts of `tracks`, None: every track):
    `published` False means such a decision is not published at all; otherwise it is published for
    `months`, and credit repair may end it early from `repair_after_months` on (None: no early end).
    A cap entry (`cap_months`, no `months`) bounds every period it covers. `verified` is the DOMAIN.md mark.
    """

    id: str
    title: str
    legal_basis: str
    verified: str
    effective_from: date
    severities: tuple[str, ...]
    effective_to: date | None = None
    tracks: tuple[str, ...] | None = None
    published: bool | None = None
    months: int | None = None
    repair_after_months: int | None = None
    cap_months: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        where = f"publicity {self.id!r}"
        _check_entry(self, where, "S02")
        if not _plain_date(self.effective_from):
            raise ValueError(f"{where}: effective_from must be a date")
        if self.effective_to is not None and not (_plain_date(self.effective_to) and self.effective_to >= self.effective_from):
            raise ValueError(f"{where}: effective_to must be a date on or after effective_from")
        if not _distinct_from(self.severities, SEVERITIES):
            raise ValueError(f"{where}: severities must be a non-empty list of distinct values from {SEVERITIES}")
        if self.tracks is not None and not _distinct_from(self.tracks, TRACKS):
            raise ValueError(f"{where}: tracks must be a non-empty list of distinct values from {TRACKS}")
        if self.note is not None and (not isinstance(self.note, str) or not self.note.strip()):
            raise ValueError(f"{where}: note must be a non-empty string when present")
        if self.cap_months is not None:
            if not _positive_int(self.cap_months):
                raise ValueError(f"{where}: cap_months must be a positive integer")
            if any(v is not None for v in (self.published, self.months, self.repair_after_months)):
                raise ValueError(f"{where}: a cap takes cap_months only, not published, months or repair_after_months")
            return
        if not isinstance(self.published, bool):
            raise ValueError(f"{where}: published must be true or false (or give cap_months)")
        if not self.published:
            if self.months is not None or self.repair_after_months is not None:
                raise ValueError(f"{where}: an entry that publishes nothing takes no months")
            return
        if not _positive_int(self.months):
            raise ValueError(f"{where}: months must be a positive integer when published")
        if self.repair_after_months is not None and not (
                _positive_int(self.repair_after_months) and self.repair_after_months <= self.months):
            raise ValueError(f"{where}: repair_after_months must be a positive integer no larger than months")

    @property
    def is_cap(self) -> bool:
        return self.cap_months is not None

    def in_force_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def covers(self, severity: str, track: str | None) -> bool:
        return severity in self.severities and (self.tracks is None or track in self.tracks)

    def window(self) -> str:
        end = self.effective_to.isoformat() if self.effective_to else ""
        return f"{self.effective_from.isoformat()}..{end}"

    @classmethod
    def from_dict(cls, data: Mapping) -> Publicity:
        where = f"publicity {data.get('id')!r}"
        values = {k: v for k, v in data.items() if k != "kind"}
        known = {f.name for f in fields(cls)}
        required = {"id", "title", "legal_basis", "verified", "effective_from", "severities"}
        if missing := required - set(values):
            raise ValueError(f"{where}: missing {sorted(missing)}")
        if unknown := set(values) - known:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
        for name in ("effective_from", "effective_to"):
            if values.get(name) is not None:
                values[name] = _parse_date(values[name], f"{where}: {name}")
        for name in ("severities", "tracks"):
            if values.get(name) is not None:
                if not isinstance(values[name], list):
                    raise ValueError(f"{where}: {name} must be a list")
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict:
        """The rules.json form of this version (None fields left out, except effective_to)."""
        return {"kind": "publicity", **_json_form(self)}


@dataclass(frozen=True)
class PublicityTerm:
    """How long one decision's record is published, resolved from the registry: the period entry that
    applies (the track's own before a national one), shortened by every cap in force over it."""

    severity: str
    published: bool
    months: int | None
    repair_after_months: int | None
    rule_ids: tuple[str, ...]
    legal_basis: str
    verified: str

    @property
    def rule_id(self) -> str:
        return "+".join(self.rule_ids)


class RuleRegistry:
    """An immutable set of rule versions — periods and limits, each kind with its own ids — at
    most one version per id and kind in force on any date."""

    def __init__(self, rules: Iterable[Rule | Limit]):
        periods: dict[str, list[Rule]] = {}
        limits: dict[str, list[Limit]] = {}
        publicity: dict[str, list[Publicity]] = {}
        for rule in rules:
            if isinstance(rule, Rule):
                periods.setdefault(rule.id, []).append(rule)
            elif isinstance(rule, Limit):
                limits.setdefault(rule.id, []).append(rule)
            elif isinstance(rule, Publicity):
                publicity.setdefault(rule.id, []).append(rule)
            else:
                raise TypeError(f"expected Rule, Limit or Publicity, got {type(rule).__name__}")
        self._versions = _without_overlaps(periods, "rule")
        self._limits = _without_overlaps(limits, "limit")
        self._publicity = _without_overlaps(publicity, "publicity")

    def get(self, rule_id: str, on: date) -> Rule:
        """The version of period `rule_id` in force on `on`; UnknownRule when there is none."""
        return _in_force(self._versions, rule_id, on, "rule")

    def versions(self, rule_id: str) -> tuple[Rule, ...]:
        """Every version of period `rule_id`, oldest first; UnknownRule when there is none."""
        if rule_id not in self._versions:
            raise UnknownRule(f"unknown rule {rule_id!r}; known: {', '.join(self._versions)}")
        return self._versions[rule_id]

    def all(self) -> tuple[Rule, ...]:
        """Every version of every period, by id and then by effective date (limits: `limits()`)."""
        return tuple(rule for found in self._versions.values() for rule in found)

    def limit(self, limit_id: str, on: date) -> Limit:
        """The version of limit `limit_id` in force on `on`; UnknownRule when there is none."""
        return _in_force(self._limits, limit_id, on, "limit")

    def limit_versions(self, limit_id: str) -> tuple[Limit, ...]:
        """Every version of limit `limit_id`, oldest first; UnknownRule when there is none."""
        if limit_id not in self._limits:
            raise UnknownRule(f"unknown limit {limit_id!r}; known: {', '.join(self._limits)}")
        return self._limits[limit_id]

    def limits(self) -> tuple[Limit, ...]:
        """Every version of every limit, by id and then by effective date."""
        return tuple(limit for found in self._limits.values() for limit in found)

    def limits_for(self, subject: str, track: str, category: str, on: date, kind: str = "cap") -> tuple[Limit, ...]:
        """The limits of `kind` on `subject` in force on `on` that cover `track` and `category`,
        by id; empty when none does. ValueError for a subject, track, category or kind the
        registry does not know, so that a typo cannot pass as "no limit applies"."""
        if not _plain_date(on):
            raise TypeError(f"'on' must be a datetime.date, got {type(on).__name__}")
        for name, value, allowed in (("subject", subject, LIMIT_SUBJECTS), ("track", track, TRACKS),
                                     ("category", category, CATEGORIES), ("kind", kind, LIMIT_KINDS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        return tuple(
            limit
            for found in self._limits.values()
            for limit in found
            if limit.kind == kind and limit.subject == subject and limit.in_force_on(on)
            and limit.applies_to(track, category)
        )

    def publicity(self) -> tuple[Publicity, ...]:
        """Every version of every publicity entry, by id and then by effective date."""
        return tuple(entry for found in self._publicity.values() for entry in found)

    def publicity_for(self, severity: str, track: str | None, on: date) -> PublicityTerm:
        """How long a decision of `severity` on a contract of `track`, dated `on`, is published. The period
        entry covering it for that track wins over one for every track; every cap in force that covers it
        shortens it. UnknownRule when no period entry applies; ValueError for an unknown severity."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        if not _plain_date(on):
            raise TypeError(f"'on' must be a datetime.date, got {type(on).__name__}")
        in_force = [e for e in self.publicity() if e.in_force_on(on) and e.covers(severity, track)]
        periods = sorted((e for e in in_force if not e.is_cap), key=lambda e: (e.tracks is None, e.id))
        if not periods:
            raise UnknownRule(f"no publicity rule for a {severity} decision on {track or 'any'} contracts "
                              f"in force on {on.isoformat()}")
        period = periods[0]
        if not period.published:
            return PublicityTerm(severity, False, None, None, (period.id,), period.legal_basis, period.verified)
        months, used = period.months, [period]
        for cap in sorted((e for e in in_force if e.is_cap), key=lambda e: e.id):
            used.append(cap)
            months = min(months, cap.cap_months)
        repair = None if period.repair_after_months is None else min(period.repair_after_months, months)
        return PublicityTerm(severity, True, months, repair, tuple(e.id for e in used),
                             "；".join(e.legal_basis for e in used), "/".join(e.verified for e in used))

    def layered(self, overrides: Iterable[Rule | Limit]) -> RuleRegistry:
        """A new registry in which the versions given replace every version of their ids (of the
        same kind: a Limit replaces limits, a Rule periods), and add new ids: how a jurisdiction's
        settings (e.g. Henan's L01) go over the national defaults."""
        overrides = list(overrides)
        periods = {rule.id for rule in overrides if isinstance(rule, Rule)}
        limits = {rule.id for rule in overrides if isinstance(rule, Limit)}
        publicity = {rule.id for rule in overrides if isinstance(rule, Publicity)}
        kept = ([r for r in self.all() if r.id not in periods] + [lim for lim in self.limits() if lim.id not in limits]
                + [p for p in self.publicity() if p.id not in publicity])
        return RuleRegistry(kept + overrides)

    @classmethod
    def from_json(cls, text_or_list: str | bytes | list) -> RuleRegistry:
        """A registry from rules.json content (text or the decoded list), validated. An entry's
        "kind" selects its type: absent or "period" a Rule, "cap", "exemption" or "prohibition"
        a Limit."""
        data = text_or_list
        if isinstance(data, (str, bytes, bytearray)):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise ValueError(f"rules are not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise ValueError("rules must be a JSON list of rule objects")
        return cls(_entry(item) for item in data)

    @classmethod
    def load(cls, path: str | Path) -> RuleRegistry:
        """The registry stored in the JSON file at `path`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def load_default(cls) -> RuleRegistry:
        """The national defaults shipped in rules.json beside this module."""
        return cls.load(DEFAULT_RULES_PATH)


def load_default() -> RuleRegistry:
    """The national defaults shipped in rules.json beside this module."""
    return RuleRegistry.load_default()


def _entry(item: object) -> Rule | Limit | Publicity:
    if isinstance(item, Mapping) and "kind" in item:
        kind = item["kind"]
        if kind == "publicity":
            return Publicity.from_dict(item)
        if kind == "period":
            return Rule.from_dict({k: v for k, v in item.items() if k != "kind"})
        if kind in LIMIT_KINDS:
            return Limit.from_dict(item)
        raise ValueError(f"rule {item.get('id')!r}: kind must be 'period' or one of {LIMIT_KINDS} or 'publicity', "
                         f"got {kind!r}")
    return Rule.from_dict(item)


def _without_overlaps(versions: dict[str, list], noun: str) -> dict[str, tuple]:
    for rule_id, found in versions.items():
        found.sort(key=lambda r: r.effective_from)
        for earlier, later in zip(found, found[1:]):
            if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
                raise ValueError(f"{noun} {rule_id}: versions {earlier.window()} and {later.window()} overlap")
    return {rule_id: tuple(found) for rule_id, found in sorted(versions.items())}


def _in_force(versions: dict[str, tuple], rule_id: str, on: date, noun: str):
    if not _plain_date(on):
        raise TypeError(f"'on' must be a datetime.date, got {type(on).__name__}")
    found = versions.get(rule_id)
    if not found:
        raise UnknownRule(f"unknown {noun} {rule_id!r}; known: {', '.join(versions)}")
    for rule in found:
        if rule.in_force_on(on):
            return rule
    windows = ", ".join(r.window() for r in found)
    raise UnknownRule(f"{noun} {rule_id} has no version in force on {on.isoformat()} (versions: {windows})")


def _distinct_from(value: object, allowed: tuple[str, ...]) -> bool:
    return (
        isinstance(value, tuple) and len(value) > 0 and all(item in allowed for item in value)
        and len(set(value)) == len(value)
    )


def _decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _parse_decimal(value: object, where: str) -> Decimal:
    # Statutory numbers are written as strings in rules.json so that they stay exact.
    if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d+)?", value):
        raise ValueError(f"{where}: expected a decimal string such as '10' or '2.5', got {value!r}")
    return Decimal(value)


def _check_entry(entry, where: str, example: str) -> None:
    """What every registry entry has: an id like `example`, a title and a legal basis, a verification mark."""
    if not isinstance(entry.id, str) or not _RULE_ID.fullmatch(entry.id):
        raise ValueError(f"{where}: id must be upper-case letters and digits, e.g. '{example}'")
    for name in ("title", "legal_basis"):
        value = getattr(entry, name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: {name} must be a non-empty string")
    if entry.verified not in VERIFICATION_MARKS:
        raise ValueError(f"{where}: verified must be one of {VERIFICATION_MARKS}, got {entry.verified!r}")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _plain_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _parse_date(value: object, where: str) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"{where}: expected 'YYYY-MM-DD', got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a calendar date") from None
