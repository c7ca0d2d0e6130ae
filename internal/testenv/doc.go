// Package testenv finds the real test servers that hack/servers.sh starts. Each accessor reads
// the environment variable the script writes; when it is missing the test fails in CI (and
// whenever ARKIVE_REQUIRE_SERVERS is set, as `make test` does) and is skipped elsewhere, so a
// bare `go test ./...` on a laptop still runs the pure tests.
package testenv
