"""The generic finder: labelled values anywhere on the page, in any of the common layouts.

Works on pypdf layout text, where a line keeps its words in reading order and columns are
separated by runs of spaces. A line is cut into *segments* at runs of 2+ spaces (or tabs and
``|``). A label (from ``templates/generic.json``) counts when it starts a segment or is followed
by a colon. Its value is, in order of preference:

- label-left: the rest of its segment ("Invoice No: INV-1") or the next segment on the line;
- label-right-of-value: the segment to its left, when the document's lines mostly run
  "value   label" (decided by a vote over all lines), or a number just before it in the same
  segment ("20,825.00 Total");
- label-above / tables: a segment on the next non-empty line under the label's column, each
  segment going to the nearest label of the header line (so table rows land under their header).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pipelines.documents.templates import Generic, Kind, Label, generic
from pipelines.documents.values import (
    DateOrder,
    NumberStyle,
    clean_text,
    parse_currency,
    parse_date,
    parse_number,
    parse_unit,
)

# How sure each placement is before the value itself is judged.
LEFT, ABOVE, RIGHT, INLINE_RIGHT, PATTERN = 0.85, 0.8, 0.8, 0.7, 0.0
AMBIGUOUS_WITH_HINT, AMBIGUOUS_NO_HINT = 0.92, 0.6  # factor / cap for "1,234" or "03/04/2025"
_GAP = re.compile(r"\s{2,}|\t|\s*\|\s*")
_ABOVE_LOOKAHEAD = 3  # non-empty lines
_MAX_COLUMN_DISTANCE = 12  # characters between a header label and a value segment


@dataclass(frozen=True)
class Candidate:
    field: str
    value: str | float
    confidence: float
    source: str
    origin: str  # "template", "left", "above", "right", "pattern", "implied"


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    label: Label
    start: int
    end: int
    segment: int  # index into the line's segments
    value_text: str  # what follows the label inside its segment, up to the next label
    at_start: bool  # the label starts its segment
    colon: bool  # a colon or "#" follows it


@dataclass(frozen=True)
class Hints:
    style: NumberStyle | None
    order: DateOrder | None
    sure: bool  # the hints come from a template or unambiguous examples


def segments(line: str) -> list[Segment]:
    out: list[Segment] = []
    pos = 0
    bounds = [(g.start(), g.end()) for g in _GAP.finditer(line)] + [(len(line), len(line))]
    for start, end in bounds:
        piece = line[pos:start]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            text = piece.strip()
            out.append(Segment(pos + lead, pos + lead + len(text), text))
        pos = end
    return out


def _hits(line: str, segs: list[Segment], spec: Generic) -> list[Hit]:
    found: list[tuple[Label, int, int, int, bool, bool]] = []
    for match in spec.label_regex.finditer(line):
        start, end = match.span("label")
        index = next((i for i, s in enumerate(segs) if s.start <= start < s.end), None)
        if index is None:
            continue
        at_start = start == segs[index].start
        colon = re.match(r"\s*[:#]", line[end : segs[index].end]) is not None
        label = spec.by_text.get(" ".join(match.group("label").split()).casefold())
        if label is None:
            continue
        if at_start or colon or (label.field and spec.kinds[label.field] == "number"):
            found.append((label, start, end, index, at_start, colon))  # "20,825.00 Total" too
    hits = []
    for k, (label, start, end, index, at_start, colon) in enumerate(found):
        stop = segs[index].end
        for later in found[k + 1 :]:  # a value runs up to the next real label in its segment
            if later[3] == index and (later[4] or later[5]):
                stop = later[1]
                break
        hits.append(Hit(label, start, end, index, line[end:stop], at_start, colon))
    return hits


def judge(
    field: str, kind: Kind, text: str, base: float, hints: Hints, origin: str
) -> list[Candidate]:
    """Candidates read from ``text`` for ``field``: none if it does not look like one."""
    text = clean_text(text)
    if not text:
        return []
    source = text[:120]
    if kind == "number":
        parsed = parse_number(text, style=hints.style)
        if parsed is None or not _mostly_number(text, parsed.text):
            return []
        confidence = base
        if parsed.ambiguous:
            confidence = base * AMBIGUOUS_WITH_HINT if hints.sure else min(base, AMBIGUOUS_NO_HINT)
        out = [Candidate(field, parsed.value, confidence, source, origin)]
        rest = text.replace(parsed.text, " ")
        unit, currency = parse_unit(rest), parse_currency(rest)
        if unit is not None and field == "quantity":
            out.append(Candidate("unit", unit, base * 0.95, source, "implied"))
        if currency is not None and field in ("unit_price", "total_amount"):
            out.append(Candidate("currency", currency, base * 0.95, source, "implied"))
        return out
    if kind == "date":
        found = parse_date(text, order=hints.order)
        if found is None:
            return []
        confidence = base
        if found.ambiguous:
            confidence = base * AMBIGUOUS_WITH_HINT if hints.sure else min(base, AMBIGUOUS_NO_HINT)
        return [Candidate(field, found.value, confidence, source, origin)]
    if kind == "code":
        token = re.match(r"[A-Za-z0-9][\w\-/.]*", text)
        if token is None or not re.search(r"\d", token.group(0)) or len(token.group(0)) > 40:
            return []
        return [Candidate(field, token.group(0).rstrip("."), base, source, origin)]
    if kind == "unit":
        unit = parse_unit(text)
        return [] if unit is None else [Candidate(field, unit, base, source, origin)]
    if kind == "currency":
        code = parse_currency(text)
        return [] if code is None else [Candidate(field, code, base, source, origin)]
    normalise = _TEXT_NORMALISERS.get(field)
    value = normalise(text) if normalise else _plain_text(text)
    return [] if value is None else [Candidate(field, value, base, source, origin)]


def _plain_text(text: str) -> str | None:
    if len(text) > 80 or not re.search(r"[A-Za-z]{2}", text):
        return None
    if parse_date(text) is not None and len(text) < 20:
        return None
    return text


def _obligation(text: str) -> str | None:
    folded = text.casefold()
    has_transferor = "transferor" in folded or "seller" in folded
    has_recipient = "recipient" in folded or "buyer" in folded
    if has_transferor == has_recipient:
        return None
    return "transferor" if has_transferor else "recipient"


_TEXT_NORMALISERS: dict[str, Callable[[str], str | None]] = {"compliance_obligation": _obligation}
_NUMBER_NOISE = re.compile(
    r"US\$|C\$|[$€£%/()]|\b(?:USD|EUR|CAD|GBP|per|g\s*CO2e?\s*/?\s*MJ|gCO2e/MJ|CO2e|MJ)\b",
    re.IGNORECASE,
)


def _mostly_number(text: str, number: str) -> bool:
    rest = _NUMBER_NOISE.sub(" ", text.replace(number, " ", 1))
    words = [w for w in re.findall(r"[A-Za-z³0-9.]+", rest) if parse_unit(w) is None]
    return sum(len(w) for w in words) <= 2


def find_labelled(
    lines: list[str], hints: Hints, *, check: Callable[[str], None]
) -> list[Candidate]:
    """Every labelled value in ``lines`` (page texts split into lines), as candidates."""
    spec = generic()
    segs = [segments(line) for line in lines]
    hits = [_hits(line, s, spec) if s else [] for line, s in zip(lines, segs, strict=True)]
    right_mode = _runs_right(segs, hits)
    out: list[Candidate] = []
    for i, line_hits in enumerate(hits):
        if i % 50 == 0:
            check("finding labelled values")
        starts = {h.segment for h in line_hits if h.at_start}
        orphans: list[Hit] = []
        for hit in line_hits:
            field = hit.label.field
            kind = spec.kinds[field] if field else "text"
            found: list[Candidate] = []
            if not hit.at_start and not hit.colon:
                before = lines[i][segs[i][hit.segment].start : hit.start]
                if field is not None and kind == "number":
                    found = judge(field, kind, before, INLINE_RIGHT, hints, "right")
                    found += judge(field, kind, hit.value_text, LEFT, hints, "left")
                out.extend(_weighted(found, hit.label))
                continue
            if hit.value_text.strip(" :#.-"):
                if field is not None:
                    found = judge(field, kind, hit.value_text, LEFT, hints, "left")
                out.extend(_weighted(found, hit.label))
                continue
            left, right = hit.segment - 1, hit.segment + 1
            if right_mode and left >= 0 and left not in starts:
                if field is not None:
                    found = judge(field, kind, segs[i][left].text, RIGHT, hints, "right")
            elif not right_mode and right < len(segs[i]) and right not in starts:
                if field is not None:
                    found = judge(field, kind, segs[i][right].text, LEFT, hints, "left")
            else:
                orphans.append(hit)
                continue
            out.extend(_weighted(found, hit.label))
        if any(h.label.field for h in orphans):
            out.extend(_below(i, lines, segs, hits, line_hits, orphans, spec, hints))
    return out


def _weighted(found: Iterable[Candidate], label: Label) -> list[Candidate]:
    out = []
    for c in found:
        confidence = c.confidence * label.weight if c.field == label.field else c.confidence
        out.append(Candidate(c.field, c.value, confidence, c.source, c.origin))
    if found and label.implies:
        source = f"{label.text}: {next(iter(found)).source}"
        out.extend(Candidate(f, v, 0.8 * label.weight, source, "implied") for f, v in label.implies)
    return out


def _runs_right(segs: list[list[Segment]], hits: list[list[Hit]]) -> bool:
    """Whether lines mostly run "value   label" rather than "label   value"."""
    right = left = 0
    for line_segs, line_hits in zip(segs, hits, strict=True):
        if len(line_segs) < 2:
            continue
        bare = {h.segment for h in line_hits if h.at_start and not h.value_text.strip(" :#.-")}
        starts = {h.segment for h in line_hits if h.at_start}
        last = len(line_segs) - 1
        if 0 not in starts and last in bare:
            right += 1
        elif 0 in starts and last not in starts:
            left += 1
    return right >= 2 and right > left


def _below(
    i: int,
    lines: list[str],
    segs: list[list[Segment]],
    hits: list[list[Hit]],
    header: list[Hit],
    orphans: list[Hit],
    spec: Generic,
    hints: Hints,
) -> list[Candidate]:
    seen = 0
    for j in range(i + 1, len(lines)):
        if not segs[j]:
            continue
        seen += 1
        if seen > _ABOVE_LOOKAHEAD:
            return []
        starts = {h.segment for h in hits[j] if h.at_start}
        free = [s for k, s in enumerate(segs[j]) if k not in starts]
        if not free:
            continue  # another header line (label-above blocks stack up)
        # Greedy matching, nearest pairs first: a right-aligned number that sits nearer the
        # next header still lands under its own once that header has taken its value.
        pairs = sorted(
            (_distance(hit, seg), k, n)
            for k, hit in enumerate(header)
            for n, seg in enumerate(free)
            if _distance(hit, seg) <= _MAX_COLUMN_DISTANCE
        )
        chosen: dict[int, Segment] = {}
        taken: set[int] = set()
        for _, k, n in pairs:
            if k not in chosen and n not in taken:
                chosen[k] = free[n]
                taken.add(n)
        out: list[Candidate] = []
        for k, seg in chosen.items():
            hit = header[k]
            field = hit.label.field
            if hit in orphans and field is not None:
                found = judge(field, spec.kinds[field], seg.text, ABOVE, hints, "above")
                out.extend(_weighted(found, hit.label))
        return out
    return []


def _distance(hit: Hit, seg: Segment) -> float:
    """0 when the spans overlap, else the gap; ties go to the nearer centre."""
    gap = max(seg.start - hit.end, hit.start - seg.end, 0)
    centre = abs((seg.start + seg.end) / 2 - (hit.start + hit.end) / 2)
    return gap + centre / 1000


def find_patterns(text: str, hints: Hints) -> list[Candidate]:
    """Candidates from the whole-text patterns in ``generic.json`` (statements, not labels)."""
    spec = generic()
    out: list[Candidate] = []
    for pattern in spec.patterns:
        match = pattern.regex.search(text)
        if match is not None:
            kind = spec.kinds[pattern.field]
            out.extend(
                judge(
                    pattern.field, kind, match.group("value"), pattern.confidence, hints, "pattern"
                )
            )
    return out
