#!/usr/bin/env bash
# Fails when a tracked file is over 2 MiB: build output and data sets stay out of the repository
# (a submission has a size limit; a committed binary once made one too big to land).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
big=$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$1 > 2097152 {print $2 " (" $1 " bytes)"}')
[ -z "$big" ] || { log "tracked files over 2 MiB (build output? add them to .gitignore):"; echo "$big" >&2; exit 1; }
log "no tracked file over 2 MiB"
