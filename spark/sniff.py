"""What a landing file's first bytes say about how to read it: encoding, delimiter, JSON layout,
and the date order its values prove. Pure functions on bytes and strings (no Spark); the I/O that
fetches the bytes is in `spark.read`.

Each guess is reported with the file (`audit.file_stats.read_settings`), never applied silently,
and a setting in `sources.yaml` always wins over it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spark.sources import DELIMITERS

HEAD_BYTES = 1 << 20
"""How much of a file is sniffed: enough rows to see a header and a few thousand records."""
DETECT_BYTES = 8 << 20
"""How much of a file charset detection may read when its first bytes are plain ASCII."""

UTF8 = "utf-8"
# Windows-1252 is what spreadsheet programs in Western Europe and the Americas write as "ANSI";
# on short samples a detector often ranks a sibling code page (cp1250, cp775) first with the same
# score, which would garble à, ã, õ or the typographic quotes: cp1252 wins within this margin.
_CP1252 = "cp1252"
_CP1252_MARGIN = 0.1

# A numeric date: two numbers of one or two digits and a year, separated by / . or -, with an
# optional time. Year-first dates (2025/04/03) are never ambiguous and are not matched here.
NUMERIC_DATE_RE = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$"
_NUMERIC_DATE = re.compile(NUMERIC_DATE_RE)


@dataclass(frozen=True)
class Encoding:
    name: str
    confidence: float
    """1.0 when certain (BOM, valid UTF-8, or declared); else the detector's 1 - chaos."""
    detected: bool


def encoding_of(head: bytes, *, complete: bool) -> Encoding | None:
    """The encoding of a file from its first bytes: UTF-8 (with or without BOM) when they decode
    as UTF-8, UTF-16 with a BOM, else the detector's guess (charset-normalizer).

    :param complete: `head` is the whole file (else a last character may be cut in two).
    :returns: None when no encoding fits.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Encoding("utf-16", 1.0, True)
    try:
        head.decode(UTF8)
        return Encoding(UTF8, 1.0, False)
    except UnicodeDecodeError as err:
        if not complete and err.start >= len(head) - 3 and err.reason == "unexpected end of data":
            return Encoding(UTF8, 1.0, False)
    try:
        import charset_normalizer
    except ImportError:  # not on the runtime: the caller says which setting to give
        return None
    best = charset_normalizer.from_bytes(head).best()
    western = charset_normalizer.from_bytes(head, cp_isolation=[_CP1252]).best()
    if western is not None and (best is None or western.chaos <= best.chaos + _CP1252_MARGIN):
        best = western
    if best is None:
        return None
    return Encoding(str(best.encoding), round(1.0 - float(best.chaos), 3), True)


def first_line(text: str) -> str:
    """The first non-blank line (BOM removed)."""
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip():
            return line
    return ""


def _outside_quotes(line: str) -> str:
    return re.sub(r'"[^"]*"', "", line)


def delimiter_of(header_line: str) -> str:
    """The delimiter of a CSV header among `DELIMITERS`: the one found most often outside quotes
    (a comma on a tie or when none is found: a one-column file)."""
    bare = _outside_quotes(header_line)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] else ","


def other_delimiter_in(header_line: str, delimiter: str) -> str | None:
    """A delimiter of `DELIMITERS` the header holds while the one in use splits it into fewer
    fields: the hint for a wrong `delimiter` setting."""
    bare = _outside_quotes(header_line)
    found = delimiter_of(header_line)
    return found if found != delimiter and bare.count(found) > bare.count(delimiter) else None


def json_layout(text: str) -> str | None:
    """`array` (a JSON array of records), `lines` (JSON Lines) or None, from the first character."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return "array"
    if stripped.startswith("{"):
        return "lines"
    return None


def sample_values(
    text: str, fmt: str, delimiter: str, column: str, index: int, limit: int = 5000
) -> list[str]:
    """Values of one column in the records a head sample holds (the last, maybe cut, record
    dropped): CSV by header position `index`, JSON Lines by key `column`."""
    values: list[str] = []
    lines = text.lstrip("\ufeff").splitlines()[:-1] or text.lstrip("\ufeff").splitlines()
    if fmt == "csv":
        rows = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
        next(rows, None)
        for row in rows:
            if index < len(row):
                values.append(row[index])
            if len(values) >= limit:
                break
    elif fmt == "jsonl":
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get(column), str):
                values.append(record[column])
            if len(values) >= limit:
                break
    return values


def has_numeric_dates(values: Iterable[str]) -> bool:
    return any(_NUMERIC_DATE.match(v) for v in values)


@dataclass(frozen=True)
class DateEvidence:
    """What a file's numeric dates say: the largest first and second numbers seen."""

    first_max: int
    second_max: int
    values: int

    @property
    def order(self) -> str | None:
        """`dmy` or `mdy` when the file proves it (a number above 12 in one position only)."""
        if self.first_max > 12 >= self.second_max:
            return "dmy"
        if self.second_max > 12 >= self.first_max:
            return "mdy"
        return None

    @property
    def contradictory(self) -> bool:
        """Numbers above 12 in both positions: the file mixes day-first and month-first dates."""
        return self.first_max > 12 and self.second_max > 12


def date_evidence(values: Sequence[str]) -> DateEvidence:
    """The evidence in a list of values (the Spark job computes the same per file with one query)."""
    firsts, seconds = [], []
    for v in values:
        m = _NUMERIC_DATE.match(v)
        if m:
            firsts.append(int(m.group(1)))
            seconds.append(int(m.group(2)))
    return DateEvidence(max(firsts, default=0), max(seconds, default=0), len(firsts))
