#!/usr/bin/env bash
# No package under workflows/<kind> imports another workflows/<kind> package: what two kinds
# share lives in workflows/ itself, so a kind can be read, changed or removed on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
for dir in workflows/*/; do
  kind=$(basename "$dir")
  while IFS= read -r line; do
    echo "$line: workflows/$kind imports another kind's workflow package" >&2
    bad=1
  done < <(grep -HnoE '"arkive\.io/arkive/workflows/[a-z0-9_]+' "$dir"*.go | grep -v "\"arkive.io/arkive/workflows/$kind\$" || true)
done
exit $bad
