# Arkive — see README.md. Tools are pinned in hack/lib.sh and cached in ~/.cache/arkive.
SHELL := /usr/bin/env bash
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/arkive
BIN := $(CACHE)/bin

.PHONY: hooks demo docs monitoring all build generate manifests verify-generated lint test bench fuzz tools servers-start servers-stop

all: build

# The demo: a real backup and restore through Temporal (see README.md).
demo:
	bash hack/demo.sh

build:
	go build ./...

# The pre-commit hook: no file over 2 MiB, no unformatted Go file.
hooks:
	install -m 0755 hack/pre-commit .git/hooks/pre-commit

tools:
	bash hack/install.sh tools

# Deepcopy methods for the API types.
generate: tools
	$(BIN)/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...

# CRD manifests into deploy/crd; RBAC from the markers: the operator's role (operator/) and the
# workers' (they read the Secrets resources name, internal/secrets).
manifests: tools
	$(BIN)/controller-gen crd paths=./api/... output:crd:dir=deploy/crd
	$(BIN)/controller-gen rbac:roleName=arkive-operator paths=./operator/... output:rbac:dir=deploy/rbac/operator
	$(BIN)/controller-gen rbac:roleName=arkive-worker paths=./internal/secrets/... output:rbac:dir=deploy/rbac/worker
	$(BIN)/controller-gen rbac:roleName=arkive-worker-resources paths=./activities/kube/... output:rbac:dir=deploy/rbac/worker-resources

verify-generated:
	bash hack/verify-generated.sh

# go vet, staticcheck, and workflowcheck (determinism of everything under workflows/).
lint: tools
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	$(BIN)/staticcheck ./...
	$(BIN)/workflowcheck ./workflows/...
	@! grep -rlE '"(k8s.io|sigs.k8s.io|github.com/IBM/sarama|gocloud.dev)[^"]*"' --include='*.go' workflows/ || { echo "workflows/ must not import Kubernetes, Kafka or blob packages"; exit 1; }
	@bash hack/check-kind-imports.sh

# Everything: real Temporal, kube-apiserver + etcd, Kafka, MinIO, Azurite, fake GCS.
test:
	bash hack/test.sh

# Benchmarks (docs/benchmarks.md): the format's (x-bare-compressor, overhead-pct) and, on the
# running test servers (make servers-start), restore's (x-bare-producer, first-record-s),
# backup's (x-bare-consumer, x-direct-capture, peak-rss-MiB, p99-rpo-s), the operator's and the
# Schema Registry backup's.
bench:
	go test -run '^$$' -bench . -benchtime 40x ./internal/archive/...
	. $(CACHE)/run/env && go test -run '^$$' -bench BenchmarkRestore -benchtime 2x ./worker/
	. $(CACHE)/run/env && go test -run '^$$' -bench BenchmarkBackup -benchtime 1x ./worker/
	. $(CACHE)/run/env && go test -run '^$$' -bench BenchmarkOperator -benchtime 1x ./operator/
	go test -run '^$$' -bench BenchmarkSchemaBackup -benchtime 3x -count 3 ./activities/schemaregistry/

# Resource pages in docs/resources, from the CRDs and deploy/samples.
docs:
	go run ./hack/crddocs

# Alert rules, PrometheusRule and Grafana dashboard in deploy/monitoring, from internal/monitoring.
monitoring:
	go run ./hack/monitoring

fuzz:
	go test ./internal/archive -run '^$$' -fuzz FuzzSegmentReader -fuzztime 60s
	go test ./internal/archive -run '^$$' -fuzz FuzzZNodeLine -fuzztime 60s

servers-start:
	bash hack/servers.sh start

servers-stop:
	bash hack/servers.sh stop
