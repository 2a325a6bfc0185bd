#!/usr/bin/env bash
# Usage: expect.sh EXPECTED_STATUS REGEX -- COMMAND [ARGS...]
# Runs COMMAND and passes iff it exits with EXPECTED_STATUS and its output
# (stdout and stderr together, lines joined by spaces) matches the extended
# REGEX.
set -u
want_rc=$1
regex=$2
shift 3
out=$("$@" 2>&1)
rc=$?
if [[ $rc -ne $want_rc ]]; then
  echo "FAIL: exit status $rc, expected $want_rc"
  echo "--- output:"; echo "$out"
  exit 1
fi
if ! tr "\n" " " <<<"$out" | grep -Eq -- "$regex"; then
  echo "FAIL: output does not match: $regex"
  echo "--- output:"; echo "$out"
  exit 1
fi
echo "ok: exit $rc, output matches"
