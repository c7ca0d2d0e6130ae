#!/usr/bin/env bash
# `make demo`: installs what the demo needs (Java, the Temporal CLI, Apache Kafka), starts a
# Temporal dev server with its UI and a Kafka broker on their own ports and folder, and runs
# `arkive demo`: a real backup and restore through Temporal, verified record by record.
# On a terminal the servers stay up for the UI until Ctrl-C; otherwise everything stops after
# verification and the exit code says whether the restored data matched (0) or not (1).
# Ports: ARKIVE_DEMO_TEMPORAL_PORT (7233), ARKIVE_DEMO_UI_PORT (8233), ARKIVE_DEMO_KAFKA_PORT (9092,
# with the controller and SASL listener on the next two ports).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

export ARKIVE_RUN="${ARKIVE_DEMO_RUN:-$ARKIVE_CACHE/demo}"
export ARKIVE_TEMPORAL_PORT="${ARKIVE_DEMO_TEMPORAL_PORT:-7233}"
export ARKIVE_TEMPORAL_UI_PORT="${ARKIVE_DEMO_UI_PORT:-8233}"
export ARKIVE_KAFKA_PORT="${ARKIVE_DEMO_KAFKA_PORT:-9092}"
export ARKIVE_KAFKA_CONTROLLER_PORT=$((ARKIVE_KAFKA_PORT + 1))
export ARKIVE_KAFKA_SASL_PORT=$((ARKIVE_KAFKA_PORT + 2))
export ARKIVE_KAFKA_SSL_PORT=$((ARKIVE_KAFKA_PORT + 3))
export ARKIVE_KAFKA_SASL_SSL_PORT=$((ARKIVE_KAFKA_PORT + 4))
export ARKIVE_KAFKA_DISTANT_PORT=$((ARKIVE_KAFKA_PORT + 5))
export ARKIVE_KAFKA_DISTANT_PROXY_PORT=$((ARKIVE_KAFKA_PORT + 6))
export ARKIVE_TEMPORAL_HEADLESS=""   # the demo shows the UI

apt_ensure() {
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing Debian package $2"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
apt_ensure java openjdk-17-jre-headless
bash hack/install.sh temporal kafka

mkdir -p "$ARKIVE_RUN"
stop() { bash hack/servers.sh stop; }
trap stop EXIT
trap 'exit 130' INT TERM
bash hack/servers.sh start temporal kafka

go build -o "$ARKIVE_RUN/arkive" ./cmd/arkive
rm -rf "$ARKIVE_RUN/storage"
"$ARKIVE_RUN/arkive" demo \
  --temporal-address "127.0.0.1:$ARKIVE_TEMPORAL_PORT" \
  --temporal-ui "http://localhost:$ARKIVE_TEMPORAL_UI_PORT" \
  --task-queue arkive-demo \
  --bootstrap "127.0.0.1:$ARKIVE_KAFKA_PORT" \
  --dir "$ARKIVE_RUN/storage"
