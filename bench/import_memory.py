"""Benchmark: peak memory of `storydesk reach import` on a large export.

Generates a content export of Meta Business Suite of about 50 MB (English, UTF-8, one row
per post with a caption of a few hundred characters) and a German UTF-16 variant of the
same size (German column names, 1.234 thousands, day-first times, tabs; half the rows, as
UTF-16 takes two bytes a character). Each file is imported by `storydesk reach import` in a
child process into a fresh SQLite file, and the child's peak resident memory is read from
the kernel when it ends (`wait4`).

The floor, measured in the same run: a child process of the same Python that imports the
same modules the command loads, opens the database as it does (engine, migrations, the
team's policy) and reads the same file with `csv` over a text stream, storing nothing.
Its peak is what running the command and reading the file cost at the least; the import's
peak above it is what storing the rows in batches (and remembering each post's id to name
duplicates) adds. For comparison, a third child reads the file whole (bytes,
text, lines, as the import did before it streamed) and stores nothing.

Runs are interleaved (floor, import, whole read) and repeated; medians are reported. The
figures replace the "Reach import memory" section of bench/README.md.

Run: `make bench` or `.venv/bin/python bench/import_memory.py [--mb 50] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import codecs
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchlib import write_section

ROOT = Path(__file__).resolve().parent.parent
ENGLISH_HEADER = ["Post ID", "Account ID", "Account username", "Account name", "Description",
                  "Duration (sec)", "Publish time", "Permalink", "Post type", "Data comment",
                  "Date", "Views", "Reach", "Likes", "Shares", "Follows", "Comments", "Saves"]
GERMAN_HEADER = ["Beitrags-ID", "Konto-ID", "Konto-Benutzername", "Kontoname", "Beschreibung",
                 "Dauer (Sek.)", "Veröffentlichungszeitpunkt", "Permalink", "Beitragstyp",
                 "Datenkommentar", "Datum", "Aufrufe", "Reichweite", "„Gefällt mir“-Angaben",
                 "Geteilte Inhalte", "Follows", "Kommentare", "Gespeichert"]
WORDS = ("muon", "detector", "beam", "proton", "collider", "tracker", "silicon",
         "calorimeter", "trigger", "physics", "lab", "students", "night", "shift", "cosmic",
         "rays", "accelerator", "magnet", "cryogenics", "data", "analysis", "higgs", "boson",
         "jets", "electrons", "photons", "outreach")

# What the command does besides storing rows: its imports (the runtime, which the team's
# policy comes from, loads the adapters and the charts), the engine and the migrations.
SETUP = """
import csv, os, sys
import bot.cli, bot.cli.reach, bot.cli.shared, bot.reach.csv_import, bot.runtime  # noqa
from bot.reach.csv_stream import open_table
from config.settings import Settings
from storage import migrate
from storage.db import make_engine
engine = make_engine(os.environ["DATABASE_URL"])
migrate.upgrade(engine)
bot.cli.shared.team_policy(Settings())
table = open_table(sys.argv[1])
"""
FLOOR = SETUP + """
with open(sys.argv[1], encoding=table.encoding, newline="") as handle:
    rows = sum(1 for _ in csv.reader(handle, delimiter=table.delimiter))
print(rows)
"""
WHOLE = SETUP + """
raw = open(sys.argv[1], "rb").read()
text = raw.decode(table.encoding)
lines = text.splitlines(keepends=True)
body = "".join(lines[1:])
print(len(lines))
"""


HEADER = ("| file | size | rows | floor (MiB) | import (MiB) | import / floor "
          "| import − floor (MiB) | whole read, nothing stored (MiB) | import time |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def generate(path: Path, megabytes: int, german: bool) -> int:
    """Write an export of about `megabytes` MB; return its rows."""
    rng = random.Random(12)
    start = datetime(2020, 1, 7, 18, 0, tzinfo=UTC)
    delimiter = "\t" if german else ","
    header = GERMAN_HEADER if german else ENGLISH_HEADER
    lines = [delimiter.join(f'"{name}"' for name in header)]
    size, rows, target = len(lines[0]), 0, megabytes * 1_000_000
    while size < target:
        rows += 1
        published = start + timedelta(hours=rows)
        caption = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 60)))
        views, reach = rng.randint(500, 2_000_000), rng.randint(100, 900_000)
        if german:
            when = published.strftime("%d.%m.%Y %H:%M")
            shown = [f"{value:,}".replace(",", ".") for value in (views, reach)]
        else:
            when = published.strftime("%m/%d/%Y %H:%M")
            shown = [f"{value:,}" for value in (views, reach)]
        cells = [str(18_000_000_000_000_000 + rows), "17841400000000001", "cmsatdesy",
                 "CMS at DESY", caption, str(rng.randint(0, 90)), when,
                 f"https://www.instagram.com/p/B{rows:010d}/", "IG reel", "",
                 "Gesamte Laufzeit" if german else "Lifetime", *shown,
                 *(str(rng.randint(0, 5000)) for _ in range(5))]
        line = delimiter.join(f'"{cell}"' for cell in cells)
        lines.append(line)
        size += (len(line) + 2) * (2 if german else 1)  # UTF-16: two bytes a character
        if len(lines) >= 10_000:
            _append(path, lines, german)
            lines = []
    _append(path, lines, german)
    return rows


def _append(path: Path, lines: list[str], german: bool) -> None:
    text = "".join(line + "\r\n" for line in lines)
    with path.open("ab") as handle:
        if german:
            if handle.tell() == 0:
                handle.write(codecs.BOM_UTF16_LE)
            handle.write(text.encode("utf-16-le"))
        else:
            handle.write(text.encode("utf-8"))


def peak_mib(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(peak resident MiB, seconds, stdout) of a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode not in (0, 1):
        raise SystemExit(f"{command[:3]} failed with {child.returncode}: {out[-500:]}")
    return usage.ru_maxrss / 1024, seconds, out


def measure(path: Path, repeat: int, work: Path) -> dict[str, list[tuple[float, float]]]:
    runs: dict[str, list[tuple[float, float]]] = {"floor": [], "import": [], "whole": []}
    python = sys.executable
    for run in range(repeat):
        database = work / f"import-{path.stem}-{run}.db"
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}",
               "PYTHONPATH": str(ROOT)}
        peak, seconds, _ = peak_mib([python, "-c", FLOOR, str(path)], env)
        runs["floor"].append((peak, seconds))
        peak, seconds, out = peak_mib(
            [python, "-m", "bot.cli", "--env-file", str(work / "none.env"), "reach", "import",
             str(path)], env)
        if " stored" not in out:
            raise SystemExit(f"the import printed no summary: {out[-500:]}")
        runs["import"].append((peak, seconds))
        peak, seconds, _ = peak_mib([python, "-c", WHOLE, str(path)], env)
        runs["whole"].append((peak, seconds))
        database.unlink(missing_ok=True)
    return runs


def median(runs: list[tuple[float, float]], index: int) -> float:
    return statistics.median(run[index] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50, help="size of the English file (MB)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    table_rows = []
    summary = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for label, german in (("English, UTF-8, commas", False),
                              ("German, UTF-16, tabs", True)):
            path = work / ("export_de.csv" if german else "export_en.csv")
            rows = generate(path, args.mb, german)
            size = path.stat().st_size / 1_000_000
            runs = measure(path, args.repeat, work)
            floor, imported, whole = (median(runs[key], 0)
                                      for key in ("floor", "import", "whole"))
            seconds = median(runs["import"], 1)
            table_rows.append(
                f"| {label} | {size:,.1f} MB | {rows:,} | {floor:,.0f} | {imported:,.0f} | "
                f"{imported / floor:.2f}× | {imported - floor:+,.0f} | {whole:,.0f} | "
                f"{seconds:,.0f} s |")
            summary.append((label, imported, floor))
            print(table_rows[-1], flush=True)
    worst = max(imported / floor for _label, imported, floor in summary)
    load = os.getloadavg()[0]
    text = f"""
`bench/import_memory.py`: `storydesk reach import` of a generated Meta Business Suite
content export (one row per post, captions of 30 to 60 words, numbers with thousands
separators), in a child process into a fresh SQLite file; its peak resident memory read
from the kernel when it ends. The floor, in the same run: the same Python importing the
same modules, opening the database as the command does (engine, migrations, the team's
policy) and reading the same file with `csv` over a text stream, storing nothing.
For comparison, a child reading the file whole (bytes, text, lines; how the import read
files before it streamed) and storing nothing. Medians of {args.repeat} interleaved runs.

{HEADER}
{chr(10).join(table_rows)}

Largest ratio to the floor: {worst:.2f}× (target ≤ 1.5×: {"met" if worst <= 1.5 else "not met"}).
What the import adds above the floor is one batch of 1,000 rows at a time and the set of
post ids already seen (to name a duplicate by its first line); the file itself is never
held. Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load:.2f}
at the end, {datetime.now(UTC).date()}.
"""
    write_section("Reach import memory", text)


if __name__ == "__main__":
    main()
