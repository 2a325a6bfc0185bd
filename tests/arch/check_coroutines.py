#!/usr/bin/env python3
"""No braced initializer or lambda inside a co_await expression.

GCC 12 destroys such temporaries twice when the coroutine resumes (a
double free: `co_await f(S{x})`, `co_await g([&] { ... })`), while a named
value or a temporary made by a constructor call or a function is fine. So
every co_await in the sources (and in what the contract generator writes,
whose templates follow the same rule) names such values first:

    auto insert = [=](Connection& c) { ... };
    auto r = co_await sqlite::Write<R>(db, insert, on_error);

Usage: check_coroutines.py DIR...
"""
import pathlib
import re
import sys

CO_AWAIT = re.compile(r"\bco_await\b")


def strip_comments_and_strings(text):
    """Blanks comments and string literals, keeping offsets and newlines."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def operand_end(text, start):
    """Returns where the co_await operand starting at `start` ends."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                return i
            depth -= 1
        elif c == ";" and depth == 0:
            return i
        elif c == "," and depth == 0:
            return i
    return len(text)


def main(dirs):
    errors = []
    for d in dirs:
        for path in sorted(pathlib.Path(d).rglob("*")):
            if path.suffix not in (".h", ".cpp", ".j2") or not path.is_file():
                continue
            text = strip_comments_and_strings(path.read_text())
            for m in CO_AWAIT.finditer(text):
                end = operand_end(text, m.end())
                if "{" in text[m.end():end]:
                    line = text.count("\n", 0, m.start()) + 1
                    errors.append(
                        "%s:%d: a lambda or braced initializer inside co_await: "
                        "GCC 12 destroys it twice; name it in a variable first"
                        % (path, line))
    for e in errors:
        print(e)
    if errors:
        return 1
    print("ok: no temporaries GCC 12 would destroy twice in co_await operands")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
