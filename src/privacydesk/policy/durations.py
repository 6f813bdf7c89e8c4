"""Human durations ("7 days", "3 months", "2 years") parsed strictly."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from dateutil.relativedelta import relativedelta
from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

Unit = Literal["minute", "hour", "day", "week", "month", "year"]
UNITS: tuple[Unit, ...] = ("minute", "hour", "day", "week", "month", "year")
_PATTERN = re.compile(r"^(?P<amount>[0-9]+) (?P<unit>[a-z]+)$")
# A fixed reference point makes durations with calendar units comparable.
_REFERENCE = datetime(2000, 1, 1)


@dataclass(frozen=True, slots=True)
class Duration:
    """A whole number of calendar units."""

    amount: int
    unit: Unit

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse "N unit(s)"; raise ValueError with a hint on anything else."""
        match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not a duration; write a whole number and a unit, like '7 days' or '3 months'")
        amount = int(match["amount"])
        word = match["unit"]
        unit = word[:-1] if word.endswith("s") else word
        if unit not in UNITS:
            raise ValueError(f"unknown unit {word!r} in {text!r}; use one of: {', '.join(u + 's' for u in UNITS)}")
        expected = unit if amount == 1 else unit + "s"
        if word != expected:
            raise ValueError(f"write {f'{amount} {expected}'!r}, not {text!r}")
        if amount == 0:
            raise ValueError(f"{text!r} is zero; a duration must be positive")
        return cls(amount, unit)

    def delta(self) -> relativedelta | timedelta:
        """The calendar delta this duration stands for (exact for units of fixed length)."""
        return _delta(self.amount, self.unit)

    def after(self, moment: datetime | date) -> datetime | date:
        """The moment this duration after `moment`, in calendar terms."""
        result: datetime | date = moment + self.delta()
        return result

    def before(self, moment: datetime | date) -> datetime | date:
        """The moment this duration before `moment`, in calendar terms."""
        result: datetime | date = moment - self.delta()
        return result

    @property
    def approx_days(self) -> float:
        """Length in days from a fixed reference date, for comparisons."""
        return _approx_days(self.amount, self.unit)

    def __lt__(self, other: Duration) -> bool:
        return self.approx_days < other.approx_days

    def __le__(self, other: Duration) -> bool:
        return self.approx_days <= other.approx_days

    def __str__(self) -> str:
        return f"{self.amount} {self.unit if self.amount == 1 else self.unit + 's'}"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: Any) -> Duration:
            if isinstance(value, Duration):
                return value
            if not isinstance(value, str):
                raise PydanticCustomError("duration", "expected a duration like '7 days', got {value!r}", {"value": value})
            try:
                return cls.parse(value)
            except ValueError as exc:
                raise PydanticCustomError("duration", str(exc)) from None

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
            json_schema_input_schema=core_schema.str_schema(),
        )


# Durations are computed on every consent decision: each distinct one is built once.
@functools.lru_cache(maxsize=256)
def _delta(amount: int, unit: Unit) -> relativedelta | timedelta:
    if unit in ("day", "week"):  # the same on dates and datetimes as the calendar delta, and far cheaper to add
        return timedelta(**{unit + "s": amount})
    return relativedelta(**{unit + "s": amount})  # type: ignore[arg-type]


@functools.lru_cache(maxsize=256)
def _approx_days(amount: int, unit: Unit) -> float:
    return float((_REFERENCE + _delta(amount, unit) - _REFERENCE).total_seconds() / 86400)
