#!/usr/bin/env python3
"""Moves one module's data from its SQLite file into its PostgreSQL database.

  python3 tools/sqlite_to_postgres.py SQLITE_FILE POSTGRES_URL

The module's database must be at the same schema version as the file (start
the module once on it, with the same binary: its migrations create the
tables) and hold no rows yet; stop every instance that writes either side
first. Every table of the file is copied, rows and ids as they are, in one
PostgreSQL transaction: all of it lands, or nothing. Each identity column's
sequence then continues after the highest id the file ever gave (SQLite's
AUTOINCREMENT counter included), so no id is given twice. The row counts of
both sides are compared before the commit.

Needs python3 and psql (postgresql-client). Exit status 0 when the data was
moved; 1 when it was refused or failed, with a message, and nothing changed.
"""

import os
import sqlite3
import subprocess
import sys
import urllib.parse


class Refused(Exception):
    pass


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def csv_field(v):
    """A value as PostgreSQL's CSV COPY reads it: NULL unquoted and empty,
    everything else quoted."""
    if v is None:
        return ""
    if isinstance(v, bytes):
        v = "\\x" + v.hex()
    elif isinstance(v, float):
        v = repr(v)
    else:
        v = str(v)
    return '"' + v.replace('"', '""') + '"'


def psql(url, sql=None, script=None):
    """Runs one statement, or a whole script in one transaction; returns the
    unaligned output."""
    argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url]
    argv += ["-c", sql] if script is None else ["-1", "-f", "-"]
    p = subprocess.run(argv, input=script, capture_output=True, text=True)
    if p.returncode != 0:
        raise Refused("PostgreSQL: " + (p.stderr.strip() or "psql failed"))
    return p.stdout


def redacted(url):
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":<redacted>@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def referenced_first(src, tables):
    """`tables` ordered so that a table comes after those its foreign keys
    reference, which PostgreSQL checks row by row as COPY inserts."""
    refs = {t: {r[2] for r in src.execute("PRAGMA foreign_key_list(%s)" % quote_ident(t))
                if r[2] != t and r[2] in tables}
            for t in tables}
    out = []
    while refs:
        ready = sorted(t for t, r in refs.items() if not r - set(out))
        if not ready:
            raise Refused("the foreign keys of %s form a cycle" % sorted(refs))
        out += ready
        for t in ready:
            del refs[t]
    return out


def move(sqlite_path, url):
    if not os.path.isfile(sqlite_path):
        raise Refused("no SQLite file at %s" % sqlite_path)
    src = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(sqlite_path),
                          uri=True)
    check = src.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise Refused("%s is damaged (quick_check: %s)" % (sqlite_path, check))
    version = src.execute("PRAGMA user_version").fetchone()[0]
    tables = [r[0] for r in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    tables = referenced_first(src, tables)
    seqs = {}
    if src.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        seqs = dict(src.execute("SELECT name, seq FROM sqlite_sequence"))

    pg_version = 0
    if psql(url, "SELECT to_regclass('mitos_schema_version') IS NOT NULL").strip() == "t":
        pg_version = int(psql(url, "SELECT coalesce(max(version), 0) "
                                   "FROM mitos_schema_version").strip())
    if pg_version != version:
        raise Refused("the PostgreSQL database is at schema version %s and the file at "
                      "%d: start the module on the database once, with the binary that "
                      "wrote the file, so that its migrations create the same tables"
                      % (pg_version, version))

    script = ["SET client_min_messages = warning;"]
    expected = {}
    for t in tables:
        cols = [r[1] for r in src.execute("PRAGMA table_info(%s)" % quote_ident(t))]
        pg_cols = psql(url, "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                       "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
                       % ("'" + quote_ident(t).replace("'", "''") + "'")).split()
        if not pg_cols:
            raise Refused("table %s is not in the PostgreSQL database" % t)
        if sorted(pg_cols) != sorted(cols):
            raise Refused("table %s has columns %s in the file and %s in PostgreSQL"
                          % (t, cols, pg_cols))
        if psql(url, "SELECT count(*) FROM %s" % quote_ident(t)).strip() != "0":
            raise Refused("table %s already has rows in PostgreSQL: the move goes into "
                          "an empty database only" % t)
        col_list = ", ".join(quote_ident(c) for c in cols)
        rows = src.execute("SELECT %s FROM %s" % (col_list, quote_ident(t))).fetchall()
        expected[t] = len(rows)
        # COPY gives identity columns the values it is given, GENERATED
        # ALWAYS included, so the ids stay those the module answered with.
        script.append("COPY %s (%s) FROM STDIN WITH (FORMAT csv);" % (quote_ident(t), col_list))
        for r in rows:
            script.append(",".join(csv_field(v) for v in r))
        script.append("\\.")
        ident = psql(url, "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                     "AND attidentity <> ''" % ("'" + quote_ident(t).replace("'", "''") + "'")).split()
        for c in ident:
            highest = max([seqs.get(t, 0)] + [r[cols.index(c)] for r in rows
                                               if isinstance(r[cols.index(c)], int)])
            if highest > 0:
                script.append("SELECT setval(pg_get_serial_sequence(%s, %s), %d);" % (
                    "'" + quote_ident(t).replace("'", "''") + "'", "'" + c + "'", highest))
    # The counts, checked inside the transaction: a mismatch rolls it all back.
    for t, n in expected.items():
        script.append("DO $$ BEGIN IF (SELECT count(*) FROM %s) <> %d THEN "
                      "RAISE EXCEPTION 'table %s: %% rows copied, %d expected', "
                      "(SELECT count(*) FROM %s); END IF; END $$;"
                      % (quote_ident(t), n, t.replace("'", "''"), n, quote_ident(t)))
    psql(url, script="\n".join(script) + "\n")
    return expected


def main(argv):
    if len(argv) != 3 or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    sqlite_path, url = argv[1], argv[2]
    try:
        moved = move(sqlite_path, url)
    except Refused as e:
        print("sqlite_to_postgres: %s; nothing was changed" % str(e).replace(url, redacted(url)),
              file=sys.stderr)
        return 1
    for t, n in sorted(moved.items()):
        print("%s: %d rows" % (t, n))
    print("moved %s into %s" % (sqlite_path, redacted(url)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
