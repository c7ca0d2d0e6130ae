package operator_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/monitoring"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/operator"
)

// serve serves a registry's /metrics on a free port and returns host:port.
func serve(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// Issue 21, acceptances 1 and 3: a real Prometheus scrapes the worker and the operator through
// a live backup, a broker crash, its return, a restore and a resource snapshot. The backup's
// last success stops advancing while the broker is down and the stale-backup alert fires;
// both recover when it returns; and every dashboard panel's query returns data.
//
// The broker is the test's own (the shared one serves other tests meanwhile). The alerts'
// for is cut to 5 s (the rules file otherwise as shipped), and the backup's RPO is 25 s by
// its annotation, so the outage shows within a minute.
func TestMetricsAndStaleBackupAlert(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	ns := b.namespace(t)
	broker := testenv.OwnKafka(t)
	b.kafkaAndFiles(t, ns, broker.Bootstrap)
	rules, err := monitoring.RulesFile("5s")
	require.NoError(t, err)
	prom := testenv.StartPrometheus(t, []string{serve(t, b.workerMetrics), serve(t, b.operatorMetrics)}, rules)

	produce(t, broker.Bootstrap, "orders", 2, 200)
	kb := &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, "orders"), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files",
		Streams: []arkivev1.BackupStream{{Topic: "orders"}}}}
	kb.Annotations = map[string]string{operator.RPOAnnotation: "25s"}
	kb.Spec.MaxSegmentInterval = &metav1.Duration{Duration: time.Second} // rounds of 10 s, the shortest
	require.NoError(t, b.k8s.Create(ctx, kb))
	// A snapshot kind beside it: snapshots kept and runs by outcome.
	require.NoError(t, b.k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: objMeta(ns, "settings"), Data: map[string]string{"a": "b"}}))
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.ResourceBackup{ObjectMeta: objMeta(ns, "config"), Spec: arkivev1.ResourceBackupSpec{Storage: "files",
		ResourceSelection: arkivev1.ResourceSelection{Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}}}}}))
	// And a paused one: time paused.
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.ResourceBackup{ObjectMeta: objMeta(ns, "paused"), Spec: arkivev1.ResourceBackupSpec{Storage: "files",
		Enabled: ptr.To(false), ResourceSelection: arkivev1.ResourceSelection{Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}}}}}))

	sel := fmt.Sprintf(`{namespace=%q, name="orders"}`, ns)
	value := func(expr string) (float64, bool) {
		s, err := prom.Query(expr)
		require.NoError(t, err)
		if len(s) != 1 {
			return 0, false
		}
		return s[0].Float(), true
	}
	lastSuccess := func() float64 {
		v, _ := value("arkive_backup_last_success_timestamp_seconds" + sel)
		return v
	}
	firing := func() bool {
		alerts, err := prom.Alerts()
		require.NoError(t, err)
		for _, a := range alerts {
			if a.Labels["alertname"] == "ArkiveBackupStale" && a.Labels["namespace"] == ns && a.State == "firing" {
				return true
			}
		}
		return false
	}

	// Healthy: every record captured, the last success advancing round after round.
	testenv.Eventually(t, 2*time.Minute, "200 records captured, seen by Prometheus", func() (bool, string) {
		v, _ := value(fmt.Sprintf(`sum(arkive_records_total{namespace=%q, name="orders", direction="captured"})`, ns))
		return v == 200, fmt.Sprint(v)
	})
	first := lastSuccess()
	testenv.Eventually(t, time.Minute, "the last success advances", func() (bool, string) {
		return lastSuccess() > first, fmt.Sprint(lastSuccess())
	})
	require.False(t, firing(), "no stale alert while the backup commits")
	series, err := prom.Query(fmt.Sprintf(`{__name__=~"arkive_.+", namespace=%q, name="orders"}`, ns))
	require.NoError(t, err)
	require.Len(t, series, 10, "series of one backup on the operator (6) and the worker (4): %v", series)

	// The broker crashes: at most the round under way commits, then nothing.
	killed := time.Now()
	broker.Kill()
	testenv.Eventually(t, 3*time.Minute, "ArkiveBackupStale fires", func() (bool, string) {
		age, _ := value("arkive_backup_age_seconds" + sel)
		return firing(), fmt.Sprintf("age %.0f s", age)
	})
	t.Logf("ArkiveBackupStale firing %s after the crash", time.Since(killed).Round(time.Second))
	stalled := lastSuccess()
	require.Less(t, stalled, float64(killed.Add(15*time.Second).UnixMilli())/1000, "no commit later than the round under way at the crash")

	// It returns: the backup commits again and the alert resolves.
	broker.Start(t)
	restarted := time.Now()
	testenv.Eventually(t, 3*time.Minute, "the last success advances past the broker's return", func() (bool, string) {
		return lastSuccess() > float64(restarted.UnixMilli())/1000, fmt.Sprint(lastSuccess())
	})
	testenv.Eventually(t, time.Minute, "ArkiveBackupStale resolves", func() (bool, string) { return !firing(), "firing" })
	t.Logf("commits again and the alert resolved %s after the broker's return", time.Since(restarted).Round(time.Second))
	v, _ := value(`sum(arkive_activity_failures_total{kind="kafkabackup"})`)
	require.Positive(t, v, "the crash's failed attempts are counted")

	// A restore of the backup, to completion.
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaRestore{ObjectMeta: objMeta(ns, "back"), Spec: arkivev1.KafkaRestoreSpec{
		Source: arkivev1.BackupSource{Storage: "files", Backup: ns + "/orders"}, Target: "kafka",
		Topics: []arkivev1.TopicMapping{{Source: "orders", Target: "orders-restored"}}}}))
	testenv.Eventually(t, 2*time.Minute, "restore Done and 200 records restored, seen by Prometheus", func() (bool, string) {
		kr := &arkivev1.KafkaRestore{}
		require.NoError(t, b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "back"}, kr))
		p, _ := value(fmt.Sprintf(`arkive_restore_progress_ratio{namespace=%q, name="back"}`, ns))
		r, _ := value(fmt.Sprintf(`sum(arkive_records_total{namespace=%q, name="back", direction="restored"})`, ns))
		return kr.Status.Phase == arkivev1.RestoreDone && p == 1 && r == 200, fmt.Sprintf("phase %s progress %v restored %v", kr.Status.Phase, p, r)
	})

	// Every alert's input series and every panel's every query return data.
	for _, a := range monitoring.Alerts {
		testenv.Eventually(t, time.Minute, fmt.Sprintf("alert %s's series %s returns data", a.Name, a.Series), func() (bool, string) {
			s, err := prom.Query(a.Series)
			require.NoError(t, err)
			return len(s) > 0, "no series"
		})
	}
	for _, p := range monitoring.Panels {
		for _, q := range p.Queries {
			testenv.Eventually(t, time.Minute, fmt.Sprintf("panel %q query %s returns data", p.Title, q.Expr), func() (bool, string) {
				s, err := prom.Query(q.Expr)
				require.NoError(t, err)
				return len(s) > 0, "no series"
			})
		}
	}
	phases, err := prom.Query(fmt.Sprintf(`arkive_resource_phase{namespace=%q} == 1`, ns))
	require.NoError(t, err)
	var seen []string
	for _, s := range phases {
		seen = append(seen, s.Metric["kind"]+"/"+s.Metric["name"]+"="+s.Metric["phase"])
	}
	require.ElementsMatch(t, []string{"kafkabackup/orders=Streaming", "resourcebackup/config=" + string(arkivev1.ResourceBackupRunning),
		"resourcebackup/paused=" + string(arkivev1.ResourceBackupPaused), "kafkarestore/back=Done"},
		seen, strings.Join(seen, ", "))
}
