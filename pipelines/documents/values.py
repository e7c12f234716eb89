"""Reading numbers, dates, units and currencies as printed on US and European documents."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Generic, Literal, TypeVar

NumberStyle = Literal["us", "eu"]
DateOrder = Literal["MDY", "DMY"]
T = TypeVar("T")


@dataclass(frozen=True)
class Parsed(Generic[T]):
    value: T
    ambiguous: bool  # another reading was possible; the document's style hint decided
    text: str  # the characters the value was read from


_NUMBER = re.compile(
    r"[-\u2212(]?\s*(?:\d{1,3}(?:[.,' \u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)\)?"
)
_US_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+\.\d+")
_EU_GROUPED = re.compile(r"\d{1,3}(?:\.\d{3})+,\d+")
_DOT_DATE = re.compile(r"(?<![\d.])\d{1,2}\.\d{1,2}\.\d{4}(?!\d)")
_SLASH_DATE = re.compile(r"(?<!\d)\d{1,2}/\d{1,2}/\d{4}(?!\d)")
_EU_DECIMAL = re.compile(r"(?<![\d.,])\d+,\d{1,2}(?![\d.,])")


def number_style(text: str) -> NumberStyle | None:
    """The document's number style from unambiguous examples ("1,234.56" or "1.234,56")."""
    us = len(_US_GROUPED.findall(text))
    eu = len(_EU_GROUPED.findall(text)) + len(_EU_DECIMAL.findall(text))
    if us == eu:
        if _DOT_DATE.search(text) and not _SLASH_DATE.search(text):
            return "eu"  # 15.03.2025 is a European hand; only a tie-breaker
        return None
    return "us" if us > eu else "eu"


def parse_number(text: str, *, style: NumberStyle | None = None) -> Parsed[float] | None:
    """The first number in ``text``: "1,234.56", "1.234,56", "1 234,5", "(12.00)", "-3".

    A lone separator followed by exactly three digits ("1,234" / "1.234") is ambiguous; the
    ``style`` hint decides (US when there is none) and the result says it was ambiguous.
    """
    match = _NUMBER.search(text)
    if match is None:
        return None
    raw = match.group(0)
    negative = raw.startswith(("-", "\u2212", "(")) and not (
        raw.startswith("(") ^ raw.endswith(")")
    )
    digits = raw.strip("-\u2212() ")
    digits = re.sub(r"[' \u00a0\u202f]", "", digits)
    commas, dots = digits.count(","), digits.count(".")
    ambiguous = False
    if commas and dots:
        decimal = "," if digits.rfind(",") > digits.rfind(".") else "."
    elif commas or dots:
        sep = "," if commas else "."
        tail = digits.rsplit(sep, 1)[1]
        if commas + dots > 1:
            decimal = "" if len(tail) == 3 else sep  # "1,234,567" groups; "1.2.3" nonsense
            if decimal:
                return None
        elif len(tail) != 3:
            decimal = sep
        else:
            ambiguous = True
            wanted = "," if style == "eu" else "."
            decimal = sep if sep == wanted else ""
    else:
        decimal = ""
    group = {"": ",.", ",": ".", ".": ","}[decimal]
    plain = digits.translate({ord(c): None for c in group})
    if decimal == ",":
        plain = plain.replace(",", ".")
    try:
        value = float(plain)
    except ValueError:
        return None
    return Parsed(-value if negative else value, ambiguous, raw.strip())


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january", "janvier", "januar", "enero"),
            ("feb", "february", "fevrier", "februar", "febrero"),
            ("mar", "march", "mars", "märz", "marz", "marzo"),
            ("apr", "april", "avril", "abril"),
            ("may", "mai", "mayo"),
            ("jun", "june", "juin", "juni", "junio"),
            ("jul", "july", "juillet", "juli", "julio"),
            ("aug", "august", "aout", "agosto"),
            ("sep", "sept", "september", "septembre", "septiembre"),
            ("oct", "october", "octobre", "oktober", "octubre"),
            ("nov", "november", "novembre", "noviembre"),
            ("dec", "december", "decembre", "dezember", "diciembre"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<mon>[A-Za-zäéû]{3,9})\.?"
_DATES = (
    ("iso", re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)")),
    ("ymd", re.compile(r"(?<!\d)(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})(?!\d)")),
    ("dot", re.compile(r"(?<![\d.])(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4}|\d{2})(?![\d])")),
    ("num", re.compile(r"(?<![\d/-])(?P<a>\d{1,2})[/-](?P<b>\d{1,2})[/-](?P<y>\d{4}|\d{2})(?!\d)")),
    ("mdy", re.compile(_MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})\b")),
    (
        "dmy",
        re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\.?[\s-]+" + _MONTH + r"[\s-]+(?P<y>\d{4})\b"),
    ),
)


def parse_date(text: str, *, order: DateOrder | None = None) -> Parsed[str] | None:
    """The first date in ``text`` as ISO ``YYYY-MM-DD``.

    ISO, 2025/03/15, 15.03.2025, 03/15/2025, 15-03-2025, March 15, 2025, 15 Mar 2025, 15-Mar-2025.
    Slashed or dashed day/month pairs that both fit 1..12 are ambiguous; ``order`` decides
    (month first when there is none) and the result says it was ambiguous.
    """
    best: tuple[int, Parsed[str]] | None = None
    for kind, pattern in _DATES:
        for match in pattern.finditer(text):
            parsed = _date_from(kind, match, order)
            if parsed is not None and (best is None or match.start() < best[0]):
                best = (match.start(), parsed)
                break
    return None if best is None else best[1]


def _date_from(kind: str, m: re.Match[str], order: DateOrder | None) -> Parsed[str] | None:
    groups = m.groupdict()
    year = int(groups["y"])
    if year < 100:
        year += 2000
    ambiguous = False
    if kind in ("mdy", "dmy"):
        month = _MONTHS.get(groups["mon"].lower())
        if month is None:
            return None
        day = int(groups["d"])
    elif kind == "num":
        a, b = int(groups["a"]), int(groups["b"])
        if a > 12 >= b:
            day, month = a, b
        elif b > 12 >= a:
            month, day = a, b
        else:
            ambiguous = a != b
            month, day = (b, a) if order == "DMY" else (a, b)
    else:
        month, day = int(groups["m"]), int(groups["d"])
    if not 1900 <= year <= 2200:
        return None
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    return Parsed(value.isoformat(), ambiguous, m.group(0))


_UNITS = {
    "gal": "gal",
    "gals": "gal",
    "gallon": "gal",
    "gallons": "gal",
    "usg": "gal",
    "l": "L",
    "ltr": "L",
    "litre": "L",
    "litres": "L",
    "liter": "L",
    "liters": "L",
    "m3": "m3",
    "m³": "m3",
    "cbm": "m3",
    "kg": "kg",
    "t": "t",
    "mt": "t",
    "tonne": "t",
    "tonnes": "t",
    "mmbtu": "MMBtu",
    "therm": "therm",
    "therms": "therm",
    "dge": "DGE",
    "gge": "GGE",
    "kwh": "kWh",
    "mwh": "MWh",
    "scf": "scf",
    "mscf": "Mscf",
    "bbl": "bbl",
    "barrel": "bbl",
    "barrels": "bbl",
}
UNIT_WORDS = tuple(sorted(_UNITS, key=len, reverse=True))
UNITS = tuple(sorted(set(_UNITS.values()), key=str.casefold))  # the canonical spellings


def unit_named(text: str) -> str | None:
    """The canonical unit ``text`` names as a whole ("gallons" -> "gal", "M3" -> "m3")."""
    return _UNITS.get(text.strip().lower())


def parse_unit(text: str) -> str | None:
    """Canonical unit ("gal", "L", "m3", "kg", "MMBtu", "DGE", "kWh" …) of the first unit word."""
    for word in re.findall(r"[A-Za-z³0-9]+", text):
        unit = _UNITS.get(word.lower())
        if unit is not None and not word.isdigit():
            return unit
    return None


_CURRENCIES = {"$": "USD", "us$": "USD", "usd": "USD", "€": "EUR", "eur": "EUR", "cad": "CAD"}
_CURRENCIES |= {"c$": "CAD", "£": "GBP", "gbp": "GBP", "chf": "CHF", "sek": "SEK", "nok": "NOK"}
_CURRENCY = re.compile(r"(US\$|C\$|[$€£])|\b(USD|EUR|CAD|GBP|CHF|SEK|NOK)\b", re.IGNORECASE)


def parse_currency(text: str) -> str | None:
    """ISO 4217 code of the first currency symbol or code in ``text``."""
    match = _CURRENCY.search(text)
    if match is None:
        return None
    return _CURRENCIES[match.group(0).lower()]


def clean_text(text: str) -> str:
    """Collapse runs of whitespace and strip separators left over from a label."""
    text = re.sub(r"\s+", " ", text).strip(" :#|\t")
    text = re.sub(r"^[-\u2013]+\s+", "", text)  # "- value", but keep the sign of "-4.38"
    return text.rstrip(" -\u2013:")
