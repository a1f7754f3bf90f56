"""The statutory rule registry: every period the engine enforces, with its legal basis.

Rules are data (rules.json beside this module), never code. A rule may have several versions
under one id, each in force for a window of dates (`effective_from` .. `effective_to`, both
inclusive), so that a law revision adds a version instead of rewriting history: the SME-payment
regulation of 2020 and its 2025 revision are both kept, and a contract is judged by the text in
force on the date the caller chooses (its signing date, see DOMAIN.md §6).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path

UNITS = ("days", "workdays")  # 日 (calendar days) and 工作日 (working days)

# Verification marks of DOMAIN.md §0: primary text, secondary only, unchecked, local, derived.
VERIFICATION_MARKS = ("P", "S", "U", "L", "D")

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.json")

_RULE_ID = re.compile(r"[A-Z][A-Z0-9_-]*")
_EVENT = re.compile(r"[a-z][a-z0-9_]*")


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

    def __post_init__(self) -> None:
        where = f"rule {self.id!r}"
        if not isinstance(self.id, str) or not _RULE_ID.fullmatch(self.id):
            raise ValueError(f"{where}: id must be upper-case letters and digits, e.g. 'G05'")
        for name in ("title", "legal_basis"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: {name} must be a non-empty string")
        if not _positive_int(self.days):
            raise ValueError(f"{where}: days must be a positive integer, got {self.days!r}")
        if self.unit not in UNITS:
            raise ValueError(f"{where}: unit must be one of {UNITS}, got {self.unit!r}")
        if not isinstance(self.start_event, str) or not _EVENT.fullmatch(self.start_event):
            raise ValueError(f"{where}: start_event must be a snake_case name, got {self.start_event!r}")
        if self.verified not in VERIFICATION_MARKS:
            raise ValueError(f"{where}: verified must be one of {VERIFICATION_MARKS}, got {self.verified!r}")
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
        required = {f.name for f in fields(cls) if f.name not in ("effective_to", "cap", "note")}
        if missing := required - set(data):
            raise ValueError(f"{where}: missing {sorted(missing)}")
        if unknown := set(data) - known:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
        values = dict(data)
        for name in ("effective_from", "effective_to"):
            if values.get(name) is not None:
                values[name] = _parse_date(values[name], f"{where}: {name}")
        return cls(**values)

    def to_dict(self) -> dict:
        """The rules.json form of this version."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["effective_from"] = self.effective_from.isoformat()
        data["effective_to"] = self.effective_to.isoformat() if self.effective_to else None
        return data


class RuleRegistry:
    """An immutable set of rule versions, at most one per id in force on any date."""

    def __init__(self, rules: Iterable[Rule]):
        versions: dict[str, list[Rule]] = {}
        for rule in rules:
            if not isinstance(rule, Rule):
                raise TypeError(f"expected Rule, got {type(rule).__name__}")
            versions.setdefault(rule.id, []).append(rule)
        for rule_id, found in versions.items():
            found.sort(key=lambda r: r.effective_from)
            for earlier, later in zip(found, found[1:]):
                if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
                    raise ValueError(
                        f"rule {rule_id}: versions {earlier.window()} and {later.window()} overlap"
                    )
        self._versions = {rule_id: tuple(found) for rule_id, found in sorted(versions.items())}

    def get(self, rule_id: str, on: date) -> Rule:
        """The version of `rule_id` in force on `on`; UnknownRule when there is none."""
        if not _plain_date(on):
            raise TypeError(f"'on' must be a datetime.date, got {type(on).__name__}")
        found = self._versions.get(rule_id)
        if not found:
            raise UnknownRule(f"unknown rule {rule_id!r}; known: {', '.join(self._versions)}")
        for rule in found:
            if rule.in_force_on(on):
                return rule
        windows = ", ".join(r.window() for r in found)
        raise UnknownRule(f"rule {rule_id} has no version in force on {on.isoformat()} (versions: {windows})")

    def versions(self, rule_id: str) -> tuple[Rule, ...]:
        """Every version of `rule_id`, oldest first; UnknownRule when there is none."""
        if rule_id not in self._versions:
            raise UnknownRule(f"unknown rule {rule_id!r}; known: {', '.join(self._versions)}")
        return self._versions[rule_id]

    def all(self) -> tuple[Rule, ...]:
        """Every version of every rule, by id and then by effective date."""
        return tuple(rule for found in self._versions.values() for rule in found)

    def layered(self, overrides: Iterable[Rule]) -> RuleRegistry:
        """A new registry in which the versions given replace every version of their ids, and
        add new ids: how a jurisdiction's settings (e.g. Henan's L01) go over the national
        defaults."""
        overrides = list(overrides)
        replaced = {rule.id for rule in overrides}
        return RuleRegistry([r for r in self.all() if r.id not in replaced] + overrides)

    @classmethod
    def from_json(cls, text_or_list: str | bytes | list) -> RuleRegistry:
        """A registry from rules.json content (text or the decoded list), validated."""
        data = text_or_list
        if isinstance(data, (str, bytes, bytearray)):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise ValueError(f"rules are not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise ValueError("rules must be a JSON list of rule objects")
        return cls(Rule.from_dict(item) for item in data)

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
