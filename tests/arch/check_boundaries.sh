#!/usr/bin/env bash
# Module boundaries, checked on the sources:
#  - a module includes another module only through its API: "<other>/api.h"
#    and "<other>/events.h" (the events it publishes);
#  - no module names another module's database file;
#  - only the composition root (app/) includes a module's entry header.
# Tests (*_test.cpp) and fuzz targets (*_fuzz.cpp) assemble instances of
# several modules, as app/ does, so they may also include
# "<other>/module.h" and the shared fakes in "<other>/testing/".
set -euo pipefail
root=$1
cd "$root"
status=0
modules=$(ls modules)
for m in $modules; do
  for other in $modules; do
    [[ $m == "$other" ]] && continue
    bad=$(grep -rnE "#include [<\"]$other/" "modules/$m" \
      | grep -vE "#include [<\"]$other/(api|events)\.h[>\"]" \
      | grep -vE "_(test|fuzz)\.cpp:[0-9]+:#include [<\"]$other/(module\.h|testing/)" || true)
    if [[ -n $bad ]]; then
      echo "module $m includes internals of $other:"; echo "$bad"; status=1
    fi
    bad=$(grep -rnE "\b$other\.db\b" "modules/$m" || true)
    if [[ -n $bad ]]; then
      echo "module $m names the database of $other:"; echo "$bad"; status=1
    fi
  done
  bad=$(grep -rnE "#include [<\"]$m/module\.h[>\"]" modules app/runtime \
      | grep -v "^modules/$m/" | grep -vE "_(test|fuzz)\.cpp:" || true)
  if [[ -n $bad ]]; then
    echo "only app/ may include $m/module.h:"; echo "$bad"; status=1
  fi
done
# Modules never open SQLite files themselves; the runtime hands them theirs.
bad=$(grep -rnE "SQLite::Database[[:space:]]*\(|sqlite3_open" modules --include='*.cpp' --include='*.h' | grep -v '_test\.cpp' || true)
if [[ -n $bad ]]; then
  echo "modules must open storage through ModuleContext::OpenDatabase:"; echo "$bad"; status=1
fi
[[ $status -eq 0 ]] && echo "ok: module boundaries hold for: $(echo $modules)"
exit $status
