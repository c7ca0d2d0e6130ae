// Package operator is where Kubernetes is touched: reconcilers turn each resource into one
// Temporal workflow (start, update signal, cancel), keep a finalizer, and copy the workflow's
// status query into the resource's status. They never move data and never wait on a workflow.
package operator
