package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestHandlerExportsCountersGaugesAndTimers(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(reg).WithTags(map[string]string{"namespace": "default", "task-queue": "arkive"})
	h.Counter("temporal_request").Inc(2)
	h.Counter("temporal_request").Inc(3)
	h.WithTags(map[string]string{"extra": "x"}).Counter("temporal_request").Inc(1) // extra label left out
	New(reg).Counter("temporal_request").Inc(4)                                    // missing labels are ""
	h.Gauge("temporal_sticky_cache_size").Update(7)
	h.Timer("temporal_workflow_task_execution_latency").Record(1500 * time.Millisecond)

	want := `
# HELP temporal_request Temporal SDK counter temporal_request
# TYPE temporal_request counter
temporal_request{namespace="",task_queue=""} 4
temporal_request{namespace="default",task_queue="arkive"} 6
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "temporal_request"))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP temporal_sticky_cache_size Temporal SDK gauge temporal_sticky_cache_size
# TYPE temporal_sticky_cache_size gauge
temporal_sticky_cache_size{namespace="default",task_queue="arkive"} 7
`), "temporal_sticky_cache_size"))
	n, err := testutil.GatherAndCount(reg, "temporal_workflow_task_execution_latency_seconds")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "temporal_workflow_task_execution_latency_seconds" {
			require.InDelta(t, 1.5, mf.GetMetric()[0].GetHistogram().GetSampleSum(), 1e-9)
		}
	}
}
