// Package metrics exposes the Temporal SDK's worker metrics (task latencies, poll and activity
// counts, sticky cache, …) in Prometheus form, on the same /metrics endpoint as the process
// metrics. The SDK's own Prometheus bridge (contrib/tally) is not reachable from this project's
// module proxy, so this is a small client.MetricsHandler over client_golang.
package metrics
