#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: installs what is missing, starts the real
# test servers, checks generated files and lint, runs every Go test against the real servers,
# and stops the servers it started. Extra arguments go to `go test` (e.g. -run TestBlob).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

bash hack/install.sh
bash hack/servers.sh start
trap 'bash hack/servers.sh stop' EXIT
. "$ARKIVE_RUN/env"
export ARKIVE_REQUIRE_SERVERS=1 # a missing server fails a test instead of skipping it
export PATH="$ARKIVE_BIN:$PATH"
# Lint, the tests and the binaries they build compile as the Dockerfile does (static, paths
# trimmed), so the test of its build command links what is compiled already instead of compiling
# every package a second way: on a first run that was 7 of cmd/arkive's 24 minutes.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath"

bash hack/check-sizes.sh
bash hack/verify-generated.sh
make --no-print-directory lint
log "running go test (real servers: Temporal $ARKIVE_TEST_TEMPORAL, Kafka $ARKIVE_TEST_KAFKA, MinIO, Azurite, fake GCS, envtest)"
# -parallel 4: the fault tests that call t.Parallel spend most of their time waiting for
# heartbeat timeouts and restarts (a quarter of a core each), so four overlap on two cores.
go test -count=1 -timeout 40m -parallel 4 "${@:-./...}"
