"""Reading an exported CSV file as a stream: its encoding, delimiter, preamble and rows.

Exports come in several shapes: UTF-8 with or without a byte-order mark, Windows-1252 from
older spreadsheets, UTF-16 with its byte-order mark (Meta Business Suite writes its daily
figures that way, and spreadsheets save "Unicode text" as UTF-16 with tabs). Meta's daily
files also start with a `sep=,` line and a line naming the figure (`"Instagram reach"`)
before the header. Nothing here holds the whole file: a first pass finds the encoding and
counts the lines in chunks, and the rows are read by `csv` over a text stream, as often as
the caller asks for them.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
DELIMITERS = (",", ";", "\t")


class FileProblem(Exception):
    """The file as a whole cannot be read (missing, empty, not a CSV)."""


@dataclass(frozen=True)
class Table:
    """One CSV file: how to read it, what precedes its header, and the header itself."""

    path: Path
    encoding: str
    delimiter: str
    declared: bool  # the delimiter was named by a `sep=` line, not chosen by a locale
    skip: int  # physical lines before the header (`sep=`, the figure's name, blank lines)
    title: str  # the figure's name on the line before the header, or ""
    header: list[str]
    lines: int  # physical lines in the file

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number in the file, cells) for each non-empty row after the header.

        A row that `csv` cannot read comes back as one cell starting with NUL and the error.
        """
        with self.path.open(encoding=self.encoding, errors="replace", newline="") as handle:
            for _ in range(self.skip):
                handle.readline()
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                next(reader)
            except (StopIteration, csv.Error):
                return
            while True:
                start = reader.line_num + 1 + self.skip
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    yield start, [f"\0{error}"]
                    continue
                if any(cell.strip() for cell in cells):
                    yield start, cells


def sniff_encoding(path: Path) -> tuple[str, int]:
    """(encoding, physical lines), reading the file once in chunks of 1 MiB."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise FileProblem(f"cannot read it ({error.strerror or error})") from None
    with handle:
        head = handle.read(CHUNK)
        if not head:
            raise FileProblem("the file is empty")
        encoding = _encoding_of(head)
        if encoding.startswith("utf-16"):
            decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
            lines, chunk, last = 0, head, ""
            while chunk:
                text = decoder.decode(chunk)
                lines += text.count("\n")
                last = text[-1:] or last
                chunk = handle.read(CHUNK)
            ends_with_break = last == "\n"
        else:
            checker = codecs.getincrementaldecoder("utf-8")()
            valid, lines, chunk, tail = True, 0, head, b""
            while chunk:
                lines += chunk.count(b"\n")
                if valid:
                    try:
                        checker.decode(chunk)
                    except UnicodeDecodeError:
                        valid = False
                tail = chunk[-1:]
                chunk = handle.read(CHUNK)
            if valid:
                try:
                    checker.decode(b"", final=True)
                except UnicodeDecodeError:
                    valid = False
            encoding = encoding if valid else "cp1252"
            ends_with_break = tail == b"\n"
    # A last line without a line break still counts.
    return encoding, lines + (0 if ends_with_break else 1)


def _encoding_of(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.count(0) > len(head) // 4:
        # UTF-16 without a byte-order mark: every other byte of Latin text is NUL.
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    return "utf-8"


def _delimiter(line: str) -> str:
    """Comma, unless the line has more semicolons or tabs (spreadsheet exports)."""
    counts = {delimiter: line.count(delimiter) for delimiter in DELIMITERS}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return [line]


def open_table(path: str | Path) -> Table:
    """Find the encoding, the delimiter, the preamble and the header of a file."""
    file = Path(path)
    encoding, lines = sniff_encoding(file)
    delimiter: str | None = None
    declared = False
    title = ""
    skip = 0
    with file.open(encoding=encoding, errors="replace", newline="") as handle:
        while True:
            line = handle.readline()
            if not line:
                raise FileProblem("the file has no header" if skip else "the file is empty")
            text = line.strip("\r\n\ufeff")
            if not text.strip():
                skip += 1
                continue
            if text.strip().lower().startswith("sep=") and skip == 0 and delimiter is None:
                mark = text.strip()[4:5]
                delimiter = mark if mark in DELIMITERS else None
                declared = delimiter is not None
                skip += 1
                continue
            cells = _cells(text, delimiter or _delimiter(text))
            if len(cells) == 1 and not title:
                title = cells[0].strip()
                skip += 1
                continue
            break
    delimiter = delimiter or _delimiter(text)
    header = _cells(text, delimiter)
    if "\0" in text:
        raise FileProblem("not a CSV file (it holds NUL characters)")
    return Table(file, encoding, delimiter, declared, skip, title, header, lines)
