// Package resourcerestore decides how a ResourceRestore brings Kubernetes objects back: plan
// and preflight, then one ordering step after another (namespaces, CRDs, RBAC, configuration,
// claims, workloads, custom resources). types.go holds the plain types shared with the
// activities that read the snapshot and write the API server (activities/kube).
package resourcerestore
