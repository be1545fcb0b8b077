#!/bin/sh
# libperdure.so must export only perdure_* symbols (architecture rule 10).
set -eu
lib=$1
all=$(nm -D --defined-only "$lib" | awk '{print $3}')
bad=$(printf '%s\n' "$all" | grep -v '^perdure_' | grep -v '^$' || true)
count=$(printf '%s\n' "$all" | grep -c '^perdure_' || true)
if [ -n "$bad" ]; then
  echo "non-perdure symbols exported from $lib:"; printf '%s\n' "$bad"; exit 1
fi
if [ "$count" -lt 10 ]; then
  echo "only $count perdure_ symbols exported from $lib"; exit 1
fi
echo "$count exported symbols, all perdure_*"
