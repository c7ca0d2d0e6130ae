#!/usr/bin/env bash
# Regenerates deepcopy, CRDs, the resource docs and the monitoring objects and fails if that changed anything: generated files must be
# committed as controller-gen makes them, never edited by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
snapshot=$(mktemp -d)
trap 'rm -rf "$snapshot"' EXIT
mkdir -p "$snapshot/crd" "$snapshot/api" "$snapshot/docs" "$snapshot/rbac" "$snapshot/monitoring"
cp -r deploy/monitoring/. "$snapshot/monitoring/" 2>/dev/null || true
cp -r deploy/crd/. "$snapshot/crd/" 2>/dev/null || true
cp -r deploy/rbac/. "$snapshot/rbac/" 2>/dev/null || true
cp -r docs/resources/. "$snapshot/docs/" 2>/dev/null || true
cp api/v1alpha1/zz_generated.deepcopy.go "$snapshot/api/" 2>/dev/null || true
make --no-print-directory generate manifests docs monitoring >/dev/null
if ! diff -ru "$snapshot/crd" deploy/crd || ! diff -ru "$snapshot/rbac" deploy/rbac || ! diff -u "$snapshot/api/zz_generated.deepcopy.go" api/v1alpha1/zz_generated.deepcopy.go ||
  ! diff -ru "$snapshot/docs" docs/resources || ! diff -ru "$snapshot/monitoring" deploy/monitoring; then
  log "generated files were stale: run 'make generate manifests docs monitoring' and commit the result"
  exit 1
fi
log "generated files are up to date"
