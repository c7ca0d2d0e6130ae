#!/usr/bin/env bash
# Installs every real test server and tool Arkive's tests and lint need. Idempotent: each piece is
# built or fetched once per version into $ARKIVE_CACHE; a second run only checks and re-links.
# Usage: hack/install.sh [all|tools|temporal|helm|envtest|kafka|kafkatools|zookeeper|kazoo|minio|azurite|gcs|debian]...
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
  apt_ensure promtool prometheus
  apt_ensure restic restic # the peer of the volume benchmarks
  apt_ensure zstd zstd     # their tar | zstd baseline
}

install_tools() {
  versioned_go_install controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "$CONTROLLER_GEN_VERSION"
  versioned_go_install staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"
  versioned_go_install workflowcheck go.temporal.io/sdk/contrib/tools/workflowcheck "$WORKFLOWCHECK_VERSION"
}

install_helm() { versioned_go_install helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION"; }
# The CLI with the dev server's SQLite driver raised (TEMPORAL_SQLITE_VERSION in lib.sh).
install_temporal() {
  versioned_go_install temporal github.com/temporalio/cli/cmd/temporal "$TEMPORAL_CLI_VERSION" "modernc.org/sqlite@$TEMPORAL_SQLITE_VERSION"
}
install_minio() { versioned_go_install minio github.com/minio/minio "$MINIO_VERSION"; }
install_gcs() { versioned_go_install fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_VERSION"; }

# envtest wants a folder with kube-apiserver, etcd and kubectl. kube-apiserver is built from
# k8s.io/kubernetes in a throwaway wrapper module whose staging modules point at their tags.
install_envtest() {
  build_kube_apiserver
  apt_ensure etcd etcd-server
  apt_ensure kubectl kubectl
  ln -sfn "$(command -v etcd)" "$ENVTEST_ASSETS/etcd"
  ln -sfn "$(command -v kubectl)" "$ENVTEST_ASSETS/kubectl"
}

build_kube_apiserver() {
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
    (cd "$src" && go mod tidy >/dev/null && CGO_ENABLED=0 go build -trimpath "${GO_TOOL_FLAGS[@]}" -o "$ENVTEST_ASSETS/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver) ||
      die "kube-apiserver build failed"
    mv "$ENVTEST_ASSETS/kube-apiserver.tmp" "$ENVTEST_ASSETS/kube-apiserver"
  fi
}

# maven_libs NAME HOME "group:artifact:version"...: the artifacts and their runtime dependencies
# from Maven Central into HOME/libs, once (HOME/.complete marks a whole fetch).
maven_libs() {
  local name=$1 home=$2 deps="" gav; shift 2
  [ -f "$home/.complete" ] && return 0
  apt_ensure java openjdk-17-jre-headless
  apt_ensure mvn maven
  log "fetching $name jars from Maven Central (once)"
  local work="$ARKIVE_CACHE/src/$(basename "$home")"
  rm -rf "$work" "$home" && mkdir -p "$work" "$home/libs"
  for gav in "$@"; do
    IFS=: read -r g a v <<<"$gav"
    deps+="<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"
  done
  printf '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion><groupId>io.arkive.hack</groupId><artifactId>runtime</artifactId><version>1</version><packaging>pom</packaging><dependencies>%s</dependencies></project>\n' \
    "$deps" >"$work/pom.xml"
  (cd "$work" && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$home/libs") || die "maven could not fetch $name"
  touch "$home/.complete"
}

# A real Apache Kafka broker: the kafka_2.13 jar and its runtime dependencies.
install_kafka() {
  maven_libs "Apache Kafka $KAFKA_VERSION" "$KAFKA_HOME" "org.apache.kafka:kafka_$SCALA_BINARY:$KAFKA_VERSION" "org.slf4j:slf4j-reload4j:1.7.36"
}

# Kafka's admin tools (TopicCommand lives in kafka-tools, not in the broker's jars): the
# Kafka-on-ZooKeeper test checks topics with Kafka's own tool.
install_kafkatools() { maven_libs "Apache Kafka $KAFKA_VERSION tools" "$KAFKA_TOOLS_HOME" "org.apache.kafka:kafka-tools:$KAFKA_VERSION"; }

# Apache ZooKeeper 3.9, with the jars its server needs at run time that the pom leaves optional
# (metrics, snappy) and a logger. 3.8 runs from Kafka's jars (install_kafka).
install_zookeeper() {
  maven_libs "Apache ZooKeeper $ZOOKEEPER_VERSION" "$ZOOKEEPER_HOME" "org.apache.zookeeper:zookeeper:$ZOOKEEPER_VERSION" \
    "io.dropwizard.metrics:metrics-core:4.1.12.1" "org.xerial.snappy:snappy-java:1.1.10.5" "org.slf4j:slf4j-simple:2.0.13"
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
    all)
      # The Go builds (CPU) run in the background while the downloads (network) run in the
      # foreground: on a fresh machine the two overlap instead of adding up. Only the foreground
      # uses apt, so two apt-gets never meet. The builds run as three chains of about equal
      # length rather than one: a single build leaves a core idle through its link and module
      # downloads, about a tenth of the time (docs/benchmarks.md, first-run and warm times).
      chains=("install_tools; install_temporal; install_gcs" "install_minio; install_helm" "build_kube_apiserver")
      pids=()
      for i in "${!chains[@]}"; do
        (eval "${chains[$i]}") >"$ARKIVE_CACHE/go-builds-$i.log" 2>&1 &
        pids+=($!)
      done
      install_debian; install_kafka; install_kafkatools; install_zookeeper; install_kazoo; install_azurite
      failed=0
      for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed=1
        cat "$ARKIVE_CACHE/go-builds-$i.log" >&2
      done
      [ "$failed" = 0 ] || die "a Go build failed (its log is above)"
      install_envtest ;;
    debian | tools | temporal | helm | envtest | kafka | kafkatools | zookeeper | kazoo | minio | azurite | gcs) "install_$t" ;;
    *) die "unknown target $t" ;;
  esac
done
log "installed: ${targets[*]}"
