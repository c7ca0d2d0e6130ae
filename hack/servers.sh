#!/usr/bin/env bash
# Starts and stops the shared real test servers on loopback: Temporal dev server, Apache Kafka
# (KRaft), Apache ZooKeeper 3.9 and 3.8, MinIO, Azurite and fake-gcs-server. kube-apiserver + etcd are started per test package
# by envtest from $KUBEBUILDER_ASSETS. Idempotent: a server whose pid is alive is left running.
# `hack/servers.sh start` writes $ARKIVE_RUN/env, the variables tests read to find each server.
# Usage: hack/servers.sh start [server...]|stop|kill SERVER|env
# ARKIVE_RUN and the ARKIVE_*_PORT variables give a second, private bed (the demo, fault tests);
# ARKIVE_KEEP_DATA=1 restarts a stopped server with its data instead of a fresh one (fault tests).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
mkdir -p "$ARKIVE_RUN"

# started PID: when the process began, in clock ticks since boot (field 22 of /proc/PID/stat).
# With the pid it names one process: a pid the kernel has since given another has another time.
started() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  set -- ${stat##*) } # the fields after the command's name, which may hold spaces; field 3 first
  echo "${20}"
}

# alive NAME: the server spawn started as NAME still runs. A pid file left by a bed whose test
# was killed may name a pid reused since; its start time then differs and nothing is stopped.
alive() {
  [ -f "$ARKIVE_RUN/$1.pid" ] || return 1
  local pid
  pid=$(cat "$ARKIVE_RUN/$1.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  [ ! -f "$ARKIVE_RUN/$1.started" ] || [ "$(started "$pid")" = "$(cat "$ARKIVE_RUN/$1.started")" ]
}

# spawn NAME CMD...: start a server in its own session with its output in $ARKIVE_RUN/NAME.log.
spawn() {
  local name=$1; shift
  alive "$name" && return 0
  log "starting $name"
  setsid "$@" >"$ARKIVE_RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$ARKIVE_RUN/$name.pid"
  started $! >"$ARKIVE_RUN/$name.started"
}

# free_ports NAME VAR...: refuse to start NAME when another process already answers one of the
# ports the variables name. Tests would otherwise run against that process (another dev server,
# a demo's broker) and fail when it goes away.
free_ports() {
  local name=$1 var; shift
  alive "$name" && return 0
  for var in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/${!var}") 2>/dev/null; then
      die "$name: port ${!var} is already in use by another process; stop it, or move $name to a free port with $var=PORT"
    fi
  done
}

# wait_port NAME PORT: poll until the port accepts connections or the server died (60 s budget).
wait_port() {
  local name=$1 port=$2 deadline=$((SECONDS + 90))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    alive "$name" || { tail -n 40 "$ARKIVE_RUN/$name.log" >&2; die "$name exited during start"; }
    [ $SECONDS -lt $deadline ] || { tail -n 40 "$ARKIVE_RUN/$name.log" >&2; die "$name not listening on $port"; }
    sleep 0.2
  done
}

# Arkive's search attributes (workflows/visibility.go) are registered at start.
start_temporal() {
  # A fresh database each start, as for Kafka: tests use ids of their own, and a file that grows
  # over many runs only slows the dev server's SQLite store.
  free_ports temporal ARKIVE_TEMPORAL_PORT
  alive temporal || [ -n "${ARKIVE_KEEP_DATA:-}" ] || rm -f "$ARKIVE_RUN/temporal.db"
  spawn temporal "$ARKIVE_BIN/temporal" server start-dev --ip 127.0.0.1 --port "$ARKIVE_TEMPORAL_PORT" \
    --ui-port "$ARKIVE_TEMPORAL_UI_PORT" ${ARKIVE_TEMPORAL_HEADLESS---headless} --log-level warn --db-filename "$ARKIVE_RUN/temporal.db" \
    --search-attribute ArkiveKind=Keyword --search-attribute ArkiveNamespace=Keyword \
    --search-attribute ArkiveResource=Keyword --search-attribute ArkivePhase=Keyword
  wait_port temporal "$ARKIVE_TEMPORAL_PORT"
}

# make_tls: a test CA, the broker's certificate for 127.0.0.1 (in a PKCS#12 keystore), a client
# certificate signed by the same CA, and a second CA the broker does not trust. Made once into
# the cache: RSA keys and a JVM start are not free, and nothing here is secret.
make_tls() {
  [ -f "$TLS_DIR/.complete" ] && return 0
  log "making the test CA and certificates (once)"
  rm -rf "$TLS_DIR" && mkdir -p "$TLS_DIR"
  (
    cd "$TLS_DIR"
    for ca in ca other-ca; do
      openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ca.key" -out "$ca.crt" -days 3650 -subj "/CN=arkive-test-$ca" 2>/dev/null
    done
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=127.0.0.1" 2>/dev/null
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out broker.crt -days 3650 -extfile broker.ext 2>/dev/null
    openssl pkcs12 -export -in broker.crt -inkey broker.key -certfile ca.crt -name broker -out broker.p12 -passout pass:arkive-tls-test
    openssl req -newkey rsa:2048 -nodes -keyout tls.key -out client.csr -subj "/CN=arkive-client" 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt -days 3650 2>/dev/null
  ) || die "making test certificates failed (openssl)"
  touch "$TLS_DIR/.complete"
}

start_kafka() {
  free_ports kafka ARKIVE_KAFKA_PORT ARKIVE_KAFKA_CONTROLLER_PORT ARKIVE_KAFKA_SASL_PORT ARKIVE_KAFKA_SSL_PORT ARKIVE_KAFKA_SASL_SSL_PORT ARKIVE_KAFKA_DISTANT_PORT
  make_tls
  local dir="$ARKIVE_RUN/kafka"
  if ! alive kafka && [ -n "${ARKIVE_KEEP_DATA:-}" ] && [ -f "$dir/server.properties" ]; then
    # A restart of the same broker with its data (the outage test): no format, no wipe.
    local java_opts=(-Xms256m -Xmx1g -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_HOME/libs/*")
    spawn kafka java "${java_opts[@]}" kafka.Kafka "$dir/server.properties"
  fi
  if ! alive kafka; then
    # A fresh log dir each start: tests create their own topics and must not see old ones.
    rm -rf "$dir" && mkdir -p "$dir/data"
    cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ARKIVE_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$ARKIVE_KAFKA_PORT,CONTROLLER://127.0.0.1:$ARKIVE_KAFKA_CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$ARKIVE_KAFKA_SASL_PORT,SSL://127.0.0.1:$ARKIVE_KAFKA_SSL_PORT,SASL_SSL://127.0.0.1:$ARKIVE_KAFKA_SASL_SSL_PORT,DISTANT://127.0.0.1:$ARKIVE_KAFKA_DISTANT_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$ARKIVE_KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$ARKIVE_KAFKA_SASL_PORT,SSL://127.0.0.1:$ARKIVE_KAFKA_SSL_PORT,SASL_SSL://127.0.0.1:$ARKIVE_KAFKA_SASL_SSL_PORT,DISTANT://127.0.0.1:$ARKIVE_KAFKA_DISTANT_PROXY_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,DISTANT:PLAINTEXT
listener.name.ssl.ssl.keystore.type=PKCS12
listener.name.ssl.ssl.keystore.location=$TLS_DIR/broker.p12
listener.name.ssl.ssl.keystore.password=arkive-tls-test
listener.name.ssl.ssl.key.password=arkive-tls-test
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$TLS_DIR/ca.crt
listener.name.ssl.ssl.client.auth=required
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=arkive-tls-test
listener.name.sasl_ssl.ssl.key.password=arkive-tls-test
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$ARKIVE_KAFKA_SASL_USER="$ARKIVE_KAFKA_SASL_PASSWORD";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$ARKIVE_KAFKA_SASL_USER="$ARKIVE_KAFKA_SASL_PASSWORD";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=16777216
# Tests write records with fixed past timestamps: the default 7-day retention would delete them
# at the next 5-minute check, in the middle of a test.
log.retention.ms=-1
# Tests and benchmarks create and delete thousands of partitions in a row; a deleted topic's
# files stay open until they are removed, a minute later by default, and a few such topics
# in that minute used up the broker's 20,000 open files.
file.delete.delay.ms=1000
PROPS
    printf 'log4j.rootLogger=WARN, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\nlog4j.appender.stdout.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stdout.layout.ConversionPattern=[%%d] %%p %%m (%%c)%%n\n' >"$dir/log4j.properties"
    local java_opts=(-Xms256m -Xmx1g -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_HOME/libs/*")
    # SCRAM credentials live in the KRaft metadata log, so they are added when storage is formatted.
    java "${java_opts[@]}" kafka.tools.StorageTool format -t "$(java "${java_opts[@]}" kafka.tools.StorageTool random-uuid)" \
      -c "$dir/server.properties" \
      --add-scram "SCRAM-SHA-256=[name=$ARKIVE_KAFKA_SASL_USER,password=$ARKIVE_KAFKA_SASL_PASSWORD]" \
      --add-scram "SCRAM-SHA-512=[name=$ARKIVE_KAFKA_SASL_USER,password=$ARKIVE_KAFKA_SASL_PASSWORD]" \
      >"$ARKIVE_RUN/kafka-format.log" 2>&1 || { cat "$ARKIVE_RUN/kafka-format.log" >&2; die "kafka storage format failed"; }
    spawn kafka java "${java_opts[@]}" kafka.Kafka "$dir/server.properties"
  fi
  wait_port kafka "$ARKIVE_KAFKA_PORT"
  wait_port kafka "$ARKIVE_KAFKA_SASL_PORT"
  wait_port kafka "$ARKIVE_KAFKA_SSL_PORT"
  wait_port kafka "$ARKIVE_KAFKA_SASL_SSL_PORT"
  wait_port kafka "$ARKIVE_KAFKA_DISTANT_PORT"
}

# start_zk NAME PORT CLASSPATH: a standalone ZooKeeper with a fresh data dir each start, TTL
# nodes enabled (extendedTypesEnabled) and the srvr four-letter word a backup reads the zxid with.
start_zk() {
  local name=$1 port=$2 cp=$3 dir="$ARKIVE_RUN/$1"
  alive "$name" && return 0
  free_ports "$name" "$4"
  [ -n "${ARKIVE_KEEP_DATA:-}" ] && [ -f "$dir/zoo.cfg" ] || {
    rm -rf "$dir" && mkdir -p "$dir/data"
    printf 'tickTime=2000\ndataDir=%s/data\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=srvr,ruok,stat\nadmin.enableServer=false\n' \
      "$dir" "$port" >"$dir/zoo.cfg"
  }
  spawn "$name" java -Xms64m -Xmx2g -Dzookeeper.extendedTypesEnabled=true -Dzookeeper.admin.enableServer=false -Dznode.container.checkIntervalMs=1000 \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dlog4j.configuration="file:$ARKIVE_RUN/kafka/log4j.properties" \
    -cp "$cp" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg"
  wait_port "$name" "$port"
  # The port opens before the server serves: wait until srvr answers with a mode. Each try is
  # bounded: a server still starting can fail to close a four-letter-word connection.
  local deadline=$((SECONDS + 60)) out
  until out=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf srvr >&3 && cat <&3") && [[ $out == *Mode:* ]]; do
    [ $SECONDS -lt $deadline ] || die "$name does not serve on $port"
    sleep 0.2
  done
}
start_zookeeper() { start_zk zookeeper "$ARKIVE_ZOOKEEPER_PORT" "$ZOOKEEPER_HOME/libs/*" ARKIVE_ZOOKEEPER_PORT; }
start_zookeeper38() {
  mkdir -p "$ARKIVE_RUN/kafka"
  [ -f "$ARKIVE_RUN/kafka/log4j.properties" ] || printf 'log4j.rootLogger=WARN, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\nlog4j.appender.stdout.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stdout.layout.ConversionPattern=[%%d] %%p %%m (%%c)%%n\n' >"$ARKIVE_RUN/kafka/log4j.properties"
  start_zk zookeeper38 "$ARKIVE_ZOOKEEPER38_PORT" "$KAFKA_HOME/libs/*" ARKIVE_ZOOKEEPER38_PORT
}

start_minio() {
  free_ports minio ARKIVE_MINIO_PORT
  mkdir -p "$ARKIVE_RUN/minio"
  MINIO_ROOT_USER=arkive MINIO_ROOT_PASSWORD=arkive-secret-key MINIO_BROWSER=off \
    spawn minio "$ARKIVE_BIN/minio" server --quiet --address "127.0.0.1:$ARKIVE_MINIO_PORT" "$ARKIVE_RUN/minio"
  wait_port minio "$ARKIVE_MINIO_PORT"
}

start_azurite() {
  free_ports azurite ARKIVE_AZURITE_PORT
  mkdir -p "$ARKIVE_RUN/azurite"
  spawn azurite "$AZURITE_HOME/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$ARKIVE_AZURITE_PORT" \
    --location "$ARKIVE_RUN/azurite" --skipApiVersionCheck --loose
  wait_port azurite "$ARKIVE_AZURITE_PORT"
}

start_gcs() {
  free_ports gcs ARKIVE_GCS_PORT
  mkdir -p "$ARKIVE_RUN/gcs"
  spawn gcs "$ARKIVE_BIN/fake-gcs-server" -scheme http -host 127.0.0.1 -port "$ARKIVE_GCS_PORT" \
    -backend memory -public-host "127.0.0.1:$ARKIVE_GCS_PORT"
  wait_port gcs "$ARKIVE_GCS_PORT"
}

write_env() {
  cat >"$ARKIVE_RUN/env" <<ENV
export ARKIVE_TEST_TEMPORAL=127.0.0.1:$ARKIVE_TEMPORAL_PORT
export ARKIVE_TEST_KAFKA=127.0.0.1:$ARKIVE_KAFKA_PORT
export ARKIVE_TEST_KAFKA_SASL=127.0.0.1:$ARKIVE_KAFKA_SASL_PORT
export ARKIVE_TEST_KAFKA_SASL_USER=$ARKIVE_KAFKA_SASL_USER
export ARKIVE_TEST_KAFKA_SASL_PASSWORD=$ARKIVE_KAFKA_SASL_PASSWORD
export ARKIVE_TEST_KAFKA_TLS=127.0.0.1:$ARKIVE_KAFKA_SSL_PORT
export ARKIVE_TEST_KAFKA_TLS_DIR=$TLS_DIR
export ARKIVE_TEST_KAFKA_SASL_SSL=127.0.0.1:$ARKIVE_KAFKA_SASL_SSL_PORT
export ARKIVE_TEST_KAFKA_DISTANT=127.0.0.1:$ARKIVE_KAFKA_DISTANT_PORT
export ARKIVE_TEST_KAFKA_DISTANT_PROXY=127.0.0.1:$ARKIVE_KAFKA_DISTANT_PROXY_PORT
export ARKIVE_TEST_ZOOKEEPER=127.0.0.1:$ARKIVE_ZOOKEEPER_PORT
export ARKIVE_TEST_ZOOKEEPER38=127.0.0.1:$ARKIVE_ZOOKEEPER38_PORT
export ARKIVE_TEST_KAZOO=$KAZOO_HOME/bin/python
export ARKIVE_TEST_KAFKA_LIBS=$KAFKA_HOME/libs
export ARKIVE_TEST_KAFKA_TOOLS_LIBS=$KAFKA_TOOLS_HOME/libs
export ARKIVE_TEST_MINIO=http://127.0.0.1:$ARKIVE_MINIO_PORT
export ARKIVE_TEST_MINIO_ACCESS_KEY=arkive
export ARKIVE_TEST_MINIO_SECRET_KEY=arkive-secret-key
export ARKIVE_TEST_AZURITE=http://127.0.0.1:$ARKIVE_AZURITE_PORT/devstoreaccount1
export ARKIVE_TEST_GCS=http://127.0.0.1:$ARKIVE_GCS_PORT/storage/v1/
export KUBEBUILDER_ASSETS=$ENVTEST_ASSETS
export ARKIVE_TEST_KCAT=$(command -v kcat || true)
export ARKIVE_TEST_PROMTOOL=$(command -v promtool || true)
export ARKIVE_TEST_PROMETHEUS=$(command -v prometheus || true)
export ARKIVE_TEST_TEMPORAL_CLI=$ARKIVE_BIN/temporal
export ARKIVE_TEST_HELM=$ARKIVE_BIN/helm
ENV
}

# stop_all waits until every server has exited (SIGKILL after 20 s): a start right after must
# not find the old process still holding its port or writing the file it is about to remove.
stop_all() {
  local name pids=()
  for name in temporal kafka zookeeper zookeeper38 minio azurite gcs; do
    if alive "$name"; then
      log "stopping $name"
      pids+=("$(cat "$ARKIVE_RUN/$name.pid")")
      kill -TERM -- "-${pids[-1]}" 2>/dev/null || true
    fi
    rm -f "$ARKIVE_RUN/$name.pid" "$ARKIVE_RUN/$name.started"
  done
  local deadline=$((SECONDS + 20)) pid
  for pid in "${pids[@]}"; do
    while kill -0 -- "-$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
      sleep 0.2
    done
  done
}

case "${1:-}" in
  start)
    shift
    servers=("$@"); [ ${#servers[@]} -eq 0 ] && servers=(temporal kafka zookeeper zookeeper38 minio azurite gcs)
    for s in "${servers[@]}"; do "start_$s"; done
    write_env
    log "servers up; variables in $ARKIVE_RUN/env" ;;
  stop) stop_all ;;
  kill) # kill NAME: stop one server abruptly (SIGKILL to its process group), for fault tests
    if [ -n "${2:-}" ] && alive "$2"; then
      pid=$(cat "$ARKIVE_RUN/$2.pid")
      kill -KILL -- "-$pid" 2>/dev/null || true
      # Gone before this returns: a start right after must find the port free.
      while kill -0 -- "-$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$ARKIVE_RUN/${2:-none}.pid" "$ARKIVE_RUN/${2:-none}.started" ;;
  env) write_env; cat "$ARKIVE_RUN/env" ;;
  *) die "usage: hack/servers.sh start [server...]|stop|kill SERVER|env" ;;
esac
