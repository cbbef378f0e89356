"""Declarative base and the column types every table shares (UTC times, exact amounts)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, MetaData, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AMOUNT_SCALE = 4
_AMOUNT_FACTOR = Decimal(10) ** AMOUNT_SCALE


class Base(DeclarativeBase):
    """Base of every cashbot table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: cashbot stores aware UTC times only")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class Amount(TypeDecorator[Decimal]):
    """An exact Decimal stored as an integer count of 1/10,000 units.

    SQLite has no exact decimal type (it would store a float), and integer sums are exact on
    every database, so SUM() over this column stays exact too.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value) * _AMOUNT_FACTOR
        if scaled != scaled.to_integral_value():
            raise ValueError(f"amount {value} has more than {AMOUNT_SCALE} decimals")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / _AMOUNT_FACTOR).quantize(Decimal(1) / _AMOUNT_FACTOR)


def encrypted_text(*, nullable: bool = True) -> Any:
    """A Text column holding a MultiFernet token; `cashbot rotate-keys` finds it by its info."""
    return mapped_column(Text, nullable=nullable, info={"encrypted": True})


CLOCK_OPTION = "cashbot_clock"


def clock_now(context: Any) -> dt.datetime:
    """Column default: the time of the clock the Database was given (never the wall clock)."""
    clock = context.execution_options.get(CLOCK_OPTION)
    if clock is None:
        raise RuntimeError("this engine was built without a clock: use storage.database.Database")
    now: dt.datetime = clock.now()
    return now
