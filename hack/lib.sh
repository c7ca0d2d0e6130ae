# Shared settings for the hack/ scripts: versions, cache and run folders, ports.
# Sourced, not run. Everything built or downloaded lives outside the clone, keyed by version,
# so a fresh clone on a warm machine starts the test bed in seconds (DESIGN.md §6).

ARKIVE_CACHE="${ARKIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/arkive}"
ARKIVE_RUN="${ARKIVE_RUN:-$ARKIVE_CACHE/run}"
ARKIVE_BIN="$ARKIVE_CACHE/bin"

TEMPORAL_CLI_VERSION=v1.5.1        # newer tags carry a replace directive and do not `go install`
# The dev server's SQLite driver. The CLI's own (v1.34.1, via server 1.29.1) leaves a connection
# answering "interrupted (9)" to every query after one cancelled at the wrong moment, which
# took the whole dev server down mid-suite; temporalio/temporal#9198 moved to v1.44.3 for it.
TEMPORAL_SQLITE_VERSION=v1.44.3
KUBE_VERSION=v1.37.1               # kube-apiserver built from source for envtest (v1.37.2 is not on the proxy)
KUBE_STAGING_VERSION=v0.37.1       # the staging modules that go with KUBE_VERSION
KAFKA_VERSION=3.9.1                # org.apache.kafka:kafka_2.13 from Maven Central, KRaft mode
SCALA_BINARY=2.13
ZOOKEEPER_VERSION=3.9.4            # org.apache.zookeeper:zookeeper from Maven Central; 3.8.4 runs from Kafka's own jars
KAZOO_VERSION=2.11.0               # the independent Python client tests compare trees with (PyPI)
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
FAKE_GCS_VERSION=v1.56.1
AZURITE_VERSION=3.37.0
CONTROLLER_GEN_VERSION=v0.23.0
STATICCHECK_VERSION=v0.8.2
WORKFLOWCHECK_VERSION=v0.6.0
HELM_VERSION=v4.3.2                # helm lint / template of deploy/helm/arkive in the tests

# Loopback ports of the shared test servers; override to run two beds side by side.
ARKIVE_TEMPORAL_PORT="${ARKIVE_TEMPORAL_PORT:-17233}"
ARKIVE_TEMPORAL_UI_PORT="${ARKIVE_TEMPORAL_UI_PORT:-18233}"
ARKIVE_KAFKA_PORT="${ARKIVE_KAFKA_PORT:-19092}"
ARKIVE_KAFKA_CONTROLLER_PORT="${ARKIVE_KAFKA_CONTROLLER_PORT:-19093}"
ARKIVE_KAFKA_SASL_PORT="${ARKIVE_KAFKA_SASL_PORT:-19094}"
ARKIVE_KAFKA_SSL_PORT="${ARKIVE_KAFKA_SSL_PORT:-19095}"   # mutual TLS (client certificate required)
ARKIVE_KAFKA_SASL_SSL_PORT="${ARKIVE_KAFKA_SASL_SSL_PORT:-19096}"   # SASL over TLS (server certificate only)
# A plaintext listener that advertises the port after it, where a test's delaying proxy
# (testenv.DistantKafka) listens and forwards to it: a broker as far away as the test says.
# Derived from the broker's port so that a second bed moves them with it.
ARKIVE_KAFKA_DISTANT_PORT="${ARKIVE_KAFKA_DISTANT_PORT:-$((ARKIVE_KAFKA_PORT + 5))}"
ARKIVE_KAFKA_DISTANT_PROXY_PORT="${ARKIVE_KAFKA_DISTANT_PROXY_PORT:-$((ARKIVE_KAFKA_PORT + 6))}"
# Test-only credentials of the SASL listeners (PLAIN and SCRAM-SHA-256/512 for the same user).
ARKIVE_KAFKA_SASL_USER=arkive
ARKIVE_KAFKA_SASL_PASSWORD=arkive-sasl-test-password
ARKIVE_ZOOKEEPER_PORT="${ARKIVE_ZOOKEEPER_PORT:-19181}"       # ZooKeeper 3.9
ARKIVE_ZOOKEEPER38_PORT="${ARKIVE_ZOOKEEPER38_PORT:-19182}"   # ZooKeeper 3.8, as Kafka 3.x clusters run it
ARKIVE_MINIO_PORT="${ARKIVE_MINIO_PORT:-19000}"
ARKIVE_AZURITE_PORT="${ARKIVE_AZURITE_PORT:-19010}"
ARKIVE_GCS_PORT="${ARKIVE_GCS_PORT:-19020}"

ENVTEST_ASSETS="$ARKIVE_CACHE/envtest-$KUBE_VERSION"
KAFKA_HOME="$ARKIVE_CACHE/kafka-$KAFKA_VERSION"
ZOOKEEPER_HOME="$ARKIVE_CACHE/zookeeper-$ZOOKEEPER_VERSION"
KAFKA_TOOLS_HOME="$ARKIVE_CACHE/kafka-tools-$KAFKA_VERSION"   # kafka-topics' TopicCommand, for ZooKeeper-mode checks
KAZOO_HOME="$ARKIVE_CACHE/kazoo-$KAZOO_VERSION"
AZURITE_HOME="$ARKIVE_CACHE/azurite-$AZURITE_VERSION"
TLS_DIR="$ARKIVE_CACHE/tls-v1"     # the test CA and certificates of the TLS listener, made once

log() { printf '[arkive-hack] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The tools and servers we build from source carry no debug information (no symbol table, no
# DWARF): nobody debugs them here, and leaving it out saved 7 % of a build's compile and link
# time on a first run (Helm: 140 s, then 130 s; docs/benchmarks.md, first-run and warm times).
GO_TOOL_FLAGS=("-ldflags=-s -w" "-gcflags=all=-dwarf=false")

# versioned_go_install BIN PACKAGE VERSION [MODULE@VERSION...]: build PACKAGE at VERSION into
# $ARKIVE_CACHE/<bin>-<version>[-<module>-<version>...]/ once, then link it into $ARKIVE_BIN so
# every script finds the pinned build. Each MODULE@VERSION raises one of its dependencies, which
# `go install` cannot: the build then runs in a scratch module that requires them too.
versioned_go_install() {
  local bin=$1 pkg=$2 version=$3 dir="$ARKIVE_CACHE/$1-$3" pin mod
  shift 3
  for pin in "$@"; do
    pin=${pin##*/}
    dir="$dir-${pin/@/-}"
  done
  if [ ! -x "$dir/$bin" ]; then
    log "building $bin $version${*:+ with $*} (once per version)"
    if [ $# -eq 0 ]; then
      GOBIN="$dir" CGO_ENABLED=0 go install "${GO_TOOL_FLAGS[@]}" "$pkg@$version" || die "go install $pkg@$version failed"
    else
      mod=$(mktemp -d)
      mkdir -p "$dir"
      (cd "$mod" && go mod init arkive.invalid/build >/dev/null 2>&1 &&
        CGO_ENABLED=0 go get "$pkg@$version" "$@" &&
        CGO_ENABLED=0 go build -trimpath "${GO_TOOL_FLAGS[@]}" -o "$dir/$bin.tmp" "$pkg") ||
        { rm -rf "$mod"; die "building $pkg@$version with $* failed"; }
      rm -rf "$mod"
      mv "$dir/$bin.tmp" "$dir/$bin" # only a finished build gets the name that is checked above
    fi
  fi
  mkdir -p "$ARKIVE_BIN"
  ln -sfn "$dir/$bin" "$ARKIVE_BIN/$bin"
}
