package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/metrics"
	"arkive.io/arkive/internal/testenv"
)

// partitions is the backup size of issue 21, acceptance 2.
const partitions = 2000

// captureLike does for one partition what the capture activity does when a segment is stored:
// it writes the segment through the blob store, counts its records and sets the partition's lag.
func captureLike(ctx context.Context, partition int32) error {
	if err := blobstore.OpenMem().Put(ctx, fmt.Sprintf("seg/%d", partition), make([]byte, 100)); err != nil {
		return err
	}
	metrics.Moved(ctx, metrics.Captured, 10, 1000)
	metrics.PartitionLag(ctx, "orders", partition, 5)
	if partition == 0 {
		return temporal.NewNonRetryableApplicationError("no such topic", "TopicNotFound", nil)
	}
	return nil
}

// backupLike runs captureLike once per partition, as a backup of that many partitions does.
func backupLike(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for p := range int32(partitions) {
		err := workflow.ExecuteActivity(ctx, captureLike, p).Get(ctx, nil)
		if p > 0 && err != nil {
			return err
		}
	}
	return nil
}

func runBackup(t *testing.T, perPartition bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	rec, err := metrics.NewRecorder(reg, perPartition)
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "arkive/kafkabackup/shop/orders"})
	env.SetWorkerOptions(worker.Options{BackgroundActivityContext: metrics.WithRecorder(context.Background(), rec),
		Interceptors: []interceptor.WorkerInterceptor{rec.Interceptor()}})
	env.RegisterWorkflow(backupLike)
	env.RegisterActivity(captureLike)
	env.ExecuteWorkflow(backupLike)
	require.NoError(t, env.GetWorkflowError())
	return reg
}

// Issue 21, acceptance 2 (the worker's part): a backup of 2,000 partitions makes fewer than
// 100 series without per-partition metrics, labelled by the resource its workflow id names;
// the names and labels pass promtool check metrics.
func TestWorkerSeriesStayBounded(t *testing.T) {
	reg := runBackup(t, false)
	series := 0
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		series += len(f.GetMetric())
	}
	require.Less(t, series, 100, "series for a backup of %d partitions", partitions)

	want := map[string]string{"kind": "kafkabackup", "namespace": "shop", "name": "orders", "direction": "captured"}
	require.Equal(t, float64(10*partitions), counterValue(t, reg, "arkive_records_total", want))
	require.Equal(t, float64(1000*partitions), counterValue(t, reg, "arkive_record_bytes_total", want))
	delete(want, "direction")
	require.Equal(t, float64(partitions), counterValue(t, reg, "arkive_stored_objects_total", want))
	require.Equal(t, float64(100*partitions), counterValue(t, reg, "arkive_stored_bytes_total", want))
	require.Equal(t, 1.0, counterValue(t, reg, "arkive_activity_failures_total",
		map[string]string{"kind": "kafkabackup", "activity": "captureLike", "type": "TopicNotFound"}))

	promtoolCheck(t, reg)
}

// With per-partition metrics on, every partition has its lag series.
func TestPerPartitionLagIsOptIn(t *testing.T) {
	reg := runBackup(t, true)
	require.Equal(t, partitions, testutil.CollectAndCount(reg, "arkive_partition_lag_records"))
	promtoolCheck(t, reg)
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s series with %v", name, labels)
	return 0
}

// promtoolCheck runs Prometheus's own linter over the exposition.
func promtoolCheck(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		require.NoError(t, enc.Encode(f))
	}
	cmd := exec.Command(testenv.Promtool(t), "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "promtool check metrics")
}
