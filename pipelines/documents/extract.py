"""Input -> extract -> output: PDF bytes to an ``Extraction`` of fields with confidences.

1. ``pdf.read_text``: text per page (layout mode), with every safety limit applied.
2. The document type from keywords (``templates/types.json``) unless the caller says.
3. Candidates: the issuer's template when its keywords match (``templates/issuers/*.json``),
   the generic label finder, and whole-text patterns.
4. Per field, candidates with the same value back each other; disagreeing ones lower the
   winner's confidence and add a warning.
5. Checks: quantity x unit price = total raises all three or lowers them with a warning;
   implausible values are lowered; fields a document type must carry are listed when missing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import cast

from pipelines.documents.errors import UnsupportedDocumentTypeError
from pipelines.documents.labels import Candidate, Hints, find_labelled, find_patterns, judge
from pipelines.documents.model import (
    DOCUMENT_TYPES,
    FIELD_NAMES,
    PLAUSIBLE,
    DocumentType,
    Extraction,
    Field,
    Limits,
)
from pipelines.documents.pdf import Deadline, read_text
from pipelines.documents.templates import (
    IssuerTemplate,
    document_type_keywords,
    find_issuer,
    generic,
)
from pipelines.documents.values import DateOrder, clean_text, number_style, parse_currency

TEMPLATE, STATIC = 0.95, 0.93
AGREEMENT_BONUS, CONFIDENCE_CAP = 0.04, 0.98
CONFLICT_CAP = 0.6  # a winner that another reading contradicts is never "confident"
ARITHMETIC_OK, ARITHMETIC_BAD = 0.97, 0.5
REQUIRED: dict[str, tuple[str, ...]] = {
    "invoice": ("document_number", "document_date", "quantity", "total_amount"),
    "bill_of_lading": ("document_number", "document_date", "quantity"),
    # PTD contents: transferor, recipient, date, pathway, CI, volume, obligation.
    "product_transfer_document": (
        "seller",
        "buyer",
        "transaction_date",
        "fuel_pathway_code",
        "carbon_intensity",
        "quantity",
        "compliance_obligation",
    ),
}
_TITLE_LINES = 8


def extract_document(
    pdf: bytes, *, document_type: str | None = None, limits: Limits = Limits()
) -> Extraction:
    """Fields of an invoice, bill of lading or product transfer document.

    ``pdf`` is the file's bytes. ``document_type`` skips type detection. Raises a leaf of
    ``pipelines.documents.errors`` (codes ``not_a_pdf``, ``corrupt_pdf``, ``encrypted``,
    ``needs_ocr``, ``too_many_pages``, ``too_large``, ``timeout``) for input it cannot read.
    Quantities are in the document's ``unit``, money in its ``currency``, carbon intensity in
    gCO2e/MJ, dates ISO ``YYYY-MM-DD``.
    """
    if document_type is not None and document_type not in DOCUMENT_TYPES:
        raise UnsupportedDocumentTypeError(document_type=document_type)
    deadline = Deadline(limits.timeout_s)
    text = read_text(pdf, limits=limits, deadline=deadline)
    full = "\n".join(text.pages)
    kind: DocumentType = document_type if document_type else detect_type(full)
    template = find_issuer(full)
    hints = _hints(full, template)
    deadline.check("matching the template")
    candidates = _from_template(full, template, hints) if template else []
    candidates += find_labelled(full.splitlines(), hints, check=deadline.check)
    candidates += find_patterns(full, hints)
    deadline.check("weighing candidates")
    fields, warnings = _merge(candidates)
    warnings += _check(fields)
    if kind == "unknown":
        warnings.append("document type not recognised: no invoice, bill of lading or PTD keywords")
    missing = [name for name in REQUIRED.get(kind, ()) if name not in fields]
    if missing:
        warnings.append(f"not found: {', '.join(missing)}")
    ordered = {name: fields[name] for name in FIELD_NAMES if name in fields}
    return Extraction(
        document_type=kind,
        fields=ordered,
        warnings=tuple(warnings),
        pages=len(text.pages),
        text_chars=sum(len(p) for p in text.pages),
        issuer=template.issuer if template else None,
        page_texts=text.pages,
    )


def detect_type(text: str) -> DocumentType:
    """The type whose keywords score highest (a keyword near the top counts triple)."""
    folded = text.casefold()
    top = "\n".join(line for line in folded.splitlines() if line.strip()).split("\n")[:_TITLE_LINES]
    head = "\n".join(top)
    best: tuple[int, DocumentType] = (0, "unknown")
    for kind, words in document_type_keywords().items():
        score = sum(3 if w.casefold() in head else 1 for w in words if w.casefold() in folded)
        if score > best[0]:
            best = (score, kind)
    return best[1]


def _hints(text: str, template: IssuerTemplate | None) -> Hints:
    style = template.number_style if template and template.number_style else number_style(text)
    order: DateOrder | None = template.date_order if template else None
    if order is None and style == "eu":
        order = "DMY"
    if order is None and parse_currency(text) == "EUR":
        order = "DMY"
    sure = bool(template and template.number_style) or style is not None
    return Hints(style=style, order=order or "MDY", sure=sure)


def _from_template(text: str, template: IssuerTemplate, hints: Hints) -> list[Candidate]:
    kinds = generic().kinds
    out: list[Candidate] = []
    for name, value in template.static.items():
        out.append(Candidate(name, value, STATIC, f"template {template.issuer}", "template"))
    for name, regex in template.fields.items():
        match = regex.search(text)
        if match is None:
            continue
        raw = match.group("value")
        found = judge(name, kinds[name], raw, TEMPLATE, hints, "template")
        out.extend(c for c in found if c.field == name)
    return out


def _key(value: str | float) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return clean_text(value).casefold()


def _merge(candidates: list[Candidate]) -> tuple[dict[str, Field], list[str]]:
    by_field: dict[str, dict[str, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for c in candidates:
        by_field[c.field][_key(c.value)].append(c)
    fields: dict[str, Field] = {}
    warnings: list[str] = []
    for name, groups in by_field.items():
        scored = []
        for group in groups.values():
            best = max(group, key=lambda c: c.confidence)
            origins = {c.origin for c in group}
            score = min(CONFIDENCE_CAP, best.confidence + AGREEMENT_BONUS * (len(origins) - 1))
            scored.append((score, best))
        scored.sort(key=lambda s: -s[0])
        score, best = scored[0]
        rivals = [s for s in scored[1:] if s[0] >= max(0.5, score - 0.2)]
        if rivals:
            other = ", ".join(repr(r[1].value) for r in rivals[:3])
            warnings.append(f"{name}: conflicting values {best.value!r} and {other}")
            score = min(score, CONFLICT_CAP)
        fields[name] = Field(best.value, round(score, 3), best.source)
    return fields, warnings


def _check(fields: dict[str, Field]) -> list[str]:
    warnings: list[str] = []

    def cap(name: str, to: float) -> None:
        f = fields[name]
        fields[name] = Field(f.value, min(f.confidence, to), f.source)

    q, p, t = (fields.get(n) for n in ("quantity", "unit_price", "total_amount"))
    if q is not None and p is not None and t is not None:
        qv, pv, tv = (cast(float, f.value) for f in (q, p, t))
        expected = qv * pv
        if math.isclose(expected, tv, rel_tol=0.005, abs_tol=0.011):
            for name, checked in (("quantity", q), ("unit_price", p), ("total_amount", t)):
                fields[name] = Field(
                    checked.value, max(checked.confidence, ARITHMETIC_OK), checked.source
                )
        else:
            warnings.append(
                f"quantity x unit price = {expected:,.2f} but the total reads {tv:,.2f}"
            )
            for name in ("quantity", "unit_price", "total_amount"):
                cap(name, ARITHMETIC_BAD)
    for name, (low, high) in PLAUSIBLE.items():
        f = fields.get(name)
        if f is not None and not low < cast(float, f.value) < high:
            warnings.append(f"{name} {f.value!r} is outside the plausible range")
            cap(name, 0.3)
    return warnings
