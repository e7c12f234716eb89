"""Templates as data: document-type keywords, generic labels and per-issuer templates (JSON).

Files live in ``pipelines/documents/templates/``: ``types.json`` (keywords per document type),
``generic.json`` (labels per field for the generic finder, whole-text patterns, ignored labels)
and ``issuers/*.json`` (one issuer each: keywords that must all appear, regexes with a named
group ``value`` per field, static values and the issuer's number/date conventions).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, cast

from pipelines.documents.model import DOCUMENT_TYPES, FIELD_NAMES, DocumentType
from pipelines.documents.values import DateOrder, NumberStyle

Kind = Literal["number", "date", "code", "text", "unit", "currency"]
KINDS: tuple[Kind, ...] = ("number", "date", "code", "text", "unit", "currency")


@dataclass(frozen=True)
class Label:
    text: str
    field: str | None  # None: an ignored label (owns a column, gives no field)
    weight: float = 1.0
    implies: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Pattern:
    field: str
    regex: re.Pattern[str]
    confidence: float


@dataclass(frozen=True)
class Generic:
    kinds: dict[str, Kind]
    labels: tuple[Label, ...]
    patterns: tuple[Pattern, ...]
    label_regex: re.Pattern[str]  # every label, longest first, group "label"
    by_text: dict[str, Label]  # casefolded label text -> label


@dataclass(frozen=True)
class IssuerTemplate:
    issuer: str
    document_types: tuple[DocumentType, ...]
    keywords: tuple[str, ...]
    number_style: NumberStyle | None
    date_order: DateOrder | None
    static: dict[str, str]
    fields: dict[str, re.Pattern[str]]

    def matches(self, text: str) -> bool:
        folded = text.casefold()
        return all(k.casefold() in folded for k in self.keywords)


class TemplateError(ValueError):
    """A template file is malformed (a bug in the shipped data, not bad input)."""


def _load(name: str) -> Any:
    return json.loads(
        resources.files("pipelines.documents").joinpath("templates", name).read_text()
    )


@cache
def document_type_keywords() -> dict[DocumentType, tuple[str, ...]]:
    data = _load("types.json")["types"]
    out: dict[DocumentType, tuple[str, ...]] = {}
    for name, words in data.items():
        if name not in DOCUMENT_TYPES:
            raise TemplateError(f"types.json: unknown document type {name!r}")
        out[cast(DocumentType, name)] = tuple(words)
    return out


@cache
def generic() -> Generic:
    data = _load("generic.json")
    kinds: dict[str, Kind] = {}
    labels: list[Label] = []
    for name, spec in data["fields"].items():
        if name not in FIELD_NAMES or spec["kind"] not in KINDS:
            raise TemplateError(f"generic.json: bad field {name!r}")
        kinds[name] = spec["kind"]
        for entry in spec["labels"]:
            if isinstance(entry, str):
                labels.append(Label(entry, name))
            else:
                implies = tuple(sorted(entry.get("implies", {}).items()))
                labels.append(Label(entry["text"], name, float(entry.get("weight", 1.0)), implies))
    labels.extend(Label(text, None) for text in data["ignore"])
    patterns = tuple(
        Pattern(name, re.compile(p["regex"]), float(p["confidence"]))
        for name, entries in data["patterns"].items()
        if not name.startswith("_")
        for p in entries
    )
    by_text = {label.text.casefold(): label for label in labels}
    alternation = "|".join(_label_pattern(text) for text in sorted(by_text, key=len, reverse=True))
    label_regex = re.compile(rf"(?<![\w/#])(?P<label>{alternation})(?![\w])", re.IGNORECASE)
    return Generic(kinds, tuple(labels), patterns, label_regex, by_text)


def _label_pattern(text: str) -> str:
    # Any run of spaces between words; a trailing "." or "#" is part of the label.
    return r"\s+".join(re.escape(word) for word in text.split())


@cache
def issuer_templates() -> tuple[IssuerTemplate, ...]:
    folder = resources.files("pipelines.documents").joinpath("templates", "issuers")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        data = json.loads(entry.read_text())
        options = data.get("options", {})
        fields = {name: re.compile(rx) for name, rx in data.get("fields", {}).items()}
        unknown = (set(fields) | set(data.get("static", {}))) - set(FIELD_NAMES)
        types = tuple(data["document_types"])
        if unknown or not set(types) <= set(DOCUMENT_TYPES):
            raise TemplateError(f"{entry.name}: unknown fields {sorted(unknown)} or types {types}")
        out.append(
            IssuerTemplate(
                issuer=data["issuer"],
                document_types=cast(tuple[DocumentType, ...], types),
                keywords=tuple(data["keywords"]),
                number_style=options.get("number_style"),
                date_order=options.get("date_order"),
                static=dict(data.get("static", {})),
                fields=fields,
            )
        )
    return tuple(out)


def find_issuer(text: str) -> IssuerTemplate | None:
    """The first issuer template whose keywords all appear in ``text``."""
    for template in issuer_templates():
        if template.matches(text):
            return template
    return None
