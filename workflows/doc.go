// Package workflows holds Arkive's deterministic workflow code, one package per resource kind,
// and the names every workflow shares. Nothing here imports Kubernetes, Kafka or blob packages:
// workflows decide, activities (in activities/) move bytes.
package workflows
