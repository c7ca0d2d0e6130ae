#!/usr/bin/env bash
# Installs every real test server and tool Arkive's tests and lint need. Idempotent: each piece is
# built or fetched once per version into $ARKIVE_CACHE; a second run only checks and re-links.
# Usage: hack/install.sh [all|tools|temporal|envtest|kafka|kafkatools|zookeeper|kazoo|minio|azurite|gcs|debian]...
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
mkdir -p "$ARKIVE_CACHE" "$ARKIVE_BIN"

apt_ensure() { # apt_ensure CMD PACKAGE: install a Debian package only when its command is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing Debian package $2"
  if [ ! -f "$ARKIVE_CACHE/.apt-updated" ]; then apt-get update -qq && touch "$ARKIVE_CACHE/.apt-updated"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

install_debian() {
  apt_ensure java openjdk-17-jre-headless
  apt_ensure mvn maven
  apt_ensure npm npm
  apt_ensure kcat kcat
  apt_ensure openssl openssl
  apt_ensure etcd etcd-server
  apt_ensure kubectl kubectl
}

install_tools() {
  versioned_go_install controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "$CONTROLLER_GEN_VERSION"
  versioned_go_install staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"
  versioned_go_install workflowcheck go.temporal.io/sdk/contrib/tools/workflowcheck "$WORKFLOWCHECK_VERSION"
}

install_temporal() { versioned_go_install temporal github.com/temporalio/cli/cmd/temporal "$TEMPORAL_CLI_VERSION"; }
install_minio() { versioned_go_install minio github.com/minio/minio "$MINIO_VERSION"; }
install_gcs() { versioned_go_install fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_VERSION"; }

# envtest wants a folder with kube-apiserver, etcd and kubectl. kube-apiserver is built from
# k8s.io/kubernetes in a throwaway wrapper module whose staging modules point at their tags.
install_envtest() {
  mkdir -p "$ENVTEST_ASSETS"
  if [ ! -x "$ENVTEST_ASSETS/kube-apiserver" ]; then
    local src="$ARKIVE_CACHE/src/kube-apiserver-$KUBE_VERSION"
    log "building kube-apiserver $KUBE_VERSION from source (once; several minutes)"
    rm -rf "$src" && mkdir -p "$src"
    local gomod
    gomod=$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    {
      echo "module arkive.local/kube-apiserver"
      echo "go 1.26"
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" |
        awk -v v="$KUBE_STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
    } >"$src/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$src/tools.go"
    (cd "$src" && go mod tidy >/dev/null && CGO_ENABLED=0 go build -trimpath -o "$ENVTEST_ASSETS/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver) ||
      die "kube-apiserver build failed"
    mv "$ENVTEST_ASSETS/kube-apiserver.tmp" "$ENVTEST_ASSETS/kube-apiserver"
  fi
  apt_ensure etcd etcd-server
  apt_ensure kubectl kubectl
  ln -sfn "$(command -v etcd)" "$ENVTEST_ASSETS/etcd"
  ln -sfn "$(command -v kubectl)" "$ENVTEST_ASSETS/kubectl"
}

# A real Apache Kafka broker: the kafka_2.13 jar and its runtime dependencies from Maven Central.
install_kafka() {
  [ -f "$KAFKA_HOME/.complete" ] && return 0
  apt_ensure java openjdk-17-jre-headless
  apt_ensure mvn maven
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central (once)"
  local work="$ARKIVE_CACHE/src/kafka-$KAFKA_VERSION"
  rm -rf "$work" "$KAFKA_HOME" && mkdir -p "$work" "$KAFKA_HOME/libs"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.arkive.hack</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$SCALA_BINARY</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  (cd "$work" && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs") || die "maven could not fetch Kafka $KAFKA_VERSION"
  touch "$KAFKA_HOME/.complete"
}

# Apache ZooKeeper 3.9 from Maven Central, with the jars its server needs at run time that the
# pom leaves optional (metrics, snappy) and a logger. 3.8 runs from Kafka's jars (install_kafka).
install_zookeeper() {
  [ -f "$ZOOKEEPER_HOME/.complete" ] && return 0
  apt_ensure java openjdk-17-jre-headless
  apt_ensure mvn maven
  log "fetching Apache ZooKeeper $ZOOKEEPER_VERSION jars from Maven Central (once)"
  local work="$ARKIVE_CACHE/src/zookeeper-$ZOOKEEPER_VERSION"
  rm -rf "$work" "$ZOOKEEPER_HOME" && mkdir -p "$work" "$ZOOKEEPER_HOME/libs"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.arkive.hack</groupId><artifactId>zookeeper-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>zookeeper</artifactId><version>$ZOOKEEPER_VERSION</version></dependency>
    <dependency><groupId>io.dropwizard.metrics</groupId><artifactId>metrics-core</artifactId><version>4.1.12.1</version></dependency>
    <dependency><groupId>org.xerial.snappy</groupId><artifactId>snappy-java</artifactId><version>1.1.10.5</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>2.0.13</version></dependency>
  </dependencies>
</project>
POM
  (cd "$work" && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$ZOOKEEPER_HOME/libs") || die "maven could not fetch ZooKeeper $ZOOKEEPER_VERSION"
  touch "$ZOOKEEPER_HOME/.complete"
}

# Kafka's admin tools (TopicCommand lives in kafka-tools, not in the broker's jars): the
# Kafka-on-ZooKeeper test checks topics with Kafka's own tool.
install_kafkatools() {
  [ -f "$KAFKA_TOOLS_HOME/.complete" ] && return 0
  apt_ensure mvn maven
  log "fetching Apache Kafka $KAFKA_VERSION tools from Maven Central (once)"
  local work="$ARKIVE_CACHE/src/kafka-tools-$KAFKA_VERSION"
  rm -rf "$work" "$KAFKA_TOOLS_HOME" && mkdir -p "$work" "$KAFKA_TOOLS_HOME/libs"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.arkive.hack</groupId><artifactId>kafka-tools-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
  </dependencies>
</project>
POM
  (cd "$work" && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_TOOLS_HOME/libs") || die "maven could not fetch kafka-tools $KAFKA_VERSION"
  touch "$KAFKA_TOOLS_HOME/.complete"
}

# kazoo, a ZooKeeper client we did not write, in its own virtualenv: tests compare trees with it.
install_kazoo() {
  [ -x "$KAZOO_HOME/bin/python" ] && "$KAZOO_HOME/bin/python" -c 'import kazoo' 2>/dev/null && return 0
  log "installing kazoo $KAZOO_VERSION from PyPI (once)"
  rm -rf "$KAZOO_HOME"
  python3 -m venv "$KAZOO_HOME" && "$KAZOO_HOME/bin/pip" install -q "kazoo==$KAZOO_VERSION" || die "pip install kazoo failed"
}

install_azurite() {
  [ -x "$AZURITE_HOME/node_modules/.bin/azurite-blob" ] && return 0
  apt_ensure npm npm
  log "installing azurite $AZURITE_VERSION from npm (once)"
  mkdir -p "$AZURITE_HOME"
  (cd "$AZURITE_HOME" && npm install --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null) || die "npm install azurite failed"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(all)
for t in "${targets[@]}"; do
  case "$t" in
    all) install_debian; install_tools; install_kafka; install_kafkatools; install_zookeeper; install_kazoo; install_azurite; install_gcs; install_minio; install_temporal; install_envtest ;;
    debian | tools | temporal | envtest | kafka | kafkatools | zookeeper | kazoo | minio | azurite | gcs) "install_$t" ;;
    *) die "unknown target $t" ;;
  esac
done
log "installed: ${targets[*]}"
