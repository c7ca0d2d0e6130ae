package operator

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/kinds"
)

// RPOAnnotation on a backup sets its recovery point objective (a Go duration such as "30m"):
// how old its last success may get before arkive_backup_rpo_seconds says it is stale. Without
// it the objective is two intervals plus a minute: one missed run is late, two is stale.
const RPOAnnotation = "arkive.io/rpo"

// resourceMetrics exports every work resource's figures (docs/metrics.md), read from the
// manager's cache at scrape time: a deleted resource's series go with it and nothing is kept
// beside the cache. It is registered while this replica leads, so one replica exports them.
type resourceMetrics struct {
	reader client.Reader
	scheme *runtime.Scheme
	now    func() time.Time
	runs   *prometheus.CounterVec

	phase, ready, lastSuccess, age, rpo, nextRun, lag, snapshots, progress, paused *prometheus.Desc
}

func newResourceMetrics(reader client.Reader, scheme *runtime.Scheme) *resourceMetrics {
	res := []string{"kind", "namespace", "name"}
	desc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(res[:3:3], extra...), nil)
	}
	return &resourceMetrics{reader: reader, scheme: scheme, now: time.Now,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arkive_runs_total",
			Help: "Backup runs (a scheduled or triggered run, or a stored snapshot) that ended, by outcome, as the operator saw them end."},
			append(res[:3:3], "outcome")),
		phase:       desc("arkive_resource_phase", "1 for the phase the resource's status shows.", "phase"),
		ready:       desc("arkive_resource_ready", "A backup's Ready condition: 1 while it does its work, 0 when it is paused, retrying, failed or not started."),
		lastSuccess: desc("arkive_backup_last_success_timestamp_seconds", "When the backup last stored everything it was to store then (a continuous Kafka backup: its last commit)."),
		age:         desc("arkive_backup_age_seconds", "Seconds since the backup's last success: how far the backup is behind its source at most."),
		rpo:         desc("arkive_backup_rpo_seconds", "The age beyond which the backup is stale: the arkive.io/rpo annotation, or two intervals between successes plus a minute."),
		nextRun:     desc("arkive_backup_next_run_timestamp_seconds", "When a scheduled backup runs next."),
		lag:         desc("arkive_backup_lag_records", "Records the source's partitions hold beyond what a Kafka backup has stored, summed over its partitions."),
		snapshots:   desc("arkive_backup_snapshots", "Snapshots a snapshot backup keeps in storage."),
		progress:    desc("arkive_restore_progress_ratio", "Share of a running or finished restore done, 0 to 1."),
		paused:      desc("arkive_paused_seconds", "Seconds since a paused resource's Ready condition changed, that is how long it has been paused."),
	}
}

func (m *resourceMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.runs.Describe(ch)
	for _, d := range []*prometheus.Desc{m.phase, m.ready, m.lastSuccess, m.age, m.rpo, m.nextRun, m.lag, m.snapshots, m.progress, m.paused} {
		ch <- d
	}
}

func (m *resourceMetrics) Collect(ch chan<- prometheus.Metric) {
	m.runs.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := m.now()
	for _, k := range kinds.Works {
		items, err := m.list(ctx, k)
		if err != nil {
			// The kind's series are missing from this scrape (the alerts on absence notice);
			// the other kinds' and controller-runtime's own are still served.
			log.Log.WithName("metrics").Error(err, "list for metrics", "kind", k.Kind)
			continue
		}
		for _, o := range items {
			m.collect(ch, k, o, now)
		}
	}
}

// list reads every resource of a kind from the cache, through the kind's list type.
func (m *resourceMetrics) list(ctx context.Context, k *kinds.Work) ([]kinds.Object, error) {
	gvk, err := apiutil.GVKForObject(k.New(), m.scheme)
	if err != nil {
		return nil, err
	}
	gvk.Kind += "List"
	obj, err := m.scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	list := obj.(client.ObjectList)
	if err := m.reader.List(ctx, list); err != nil {
		return nil, err
	}
	var items []kinds.Object
	err = meta.EachListItem(list, func(o runtime.Object) error {
		items = append(items, o.(kinds.Object))
		return nil
	})
	return items, err
}

func (m *resourceMetrics) collect(ch chan<- prometheus.Metric, k *kinds.Work, o kinds.Object, now time.Time) {
	labels := []string{strings.ToLower(k.Kind), o.GetNamespace(), o.GetName()}
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(labels[:3:3], extra...)...)
	}
	phase := k.Phase(o)
	if phase != "" {
		gauge(m.phase, 1, phase)
	}
	conds := k.Status(o).Conditions
	if c := meta.FindStatusCondition(conds, arkivev1.ConditionReady); c != nil {
		gauge(m.ready, boolValue(c.Status == metav1.ConditionTrue))
		if phase == string(arkivev1.KafkaBackupPaused) {
			gauge(m.paused, now.Sub(c.LastTransitionTime.Time).Seconds())
		}
	}
	f := k.Figures(o)
	if !f.LastSuccess.IsZero() {
		gauge(m.lastSuccess, float64(f.LastSuccess.UnixMilli())/1000)
		gauge(m.age, max(0, now.Sub(f.LastSuccess).Seconds()))
	}
	if rpo := objective(o, f.Interval); rpo > 0 {
		gauge(m.rpo, rpo.Seconds())
	}
	if !f.NextRun.IsZero() {
		gauge(m.nextRun, float64(f.NextRun.UnixMilli())/1000)
	}
	if f.LagRecords != nil {
		gauge(m.lag, float64(*f.LagRecords))
	}
	if f.Snapshots != nil {
		gauge(m.snapshots, float64(*f.Snapshots))
	}
	if f.Progress != nil {
		gauge(m.progress, *f.Progress)
	}
}

// objective is a backup's RPO: its annotation, else two intervals and a minute; 0 (none) for
// a backup that runs only when triggered and has no annotation.
func objective(o kinds.Object, interval time.Duration) time.Duration {
	if v, ok := o.GetAnnotations()[RPOAnnotation]; ok {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	if interval <= 0 {
		return 0
	}
	return 2*interval + time.Minute
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ran counts a run that ended.
func (m *resourceMetrics) ran(k *kinds.Work, o kinds.Object, outcome string) {
	m.runs.WithLabelValues(strings.ToLower(k.Kind), o.GetNamespace(), o.GetName(), outcome).Inc()
}

// whileLeading registers the metrics with reg while this replica leads (a manager runs a
// runnable that does not say otherwise only on the leader) and unregisters them when it stops.
func (m *resourceMetrics) whileLeading(reg prometheus.Registerer) manager.Runnable {
	return manager.RunnableFunc(func(ctx context.Context) error {
		if err := reg.Register(m); err != nil {
			return err
		}
		<-ctx.Done()
		reg.Unregister(m)
		return nil
	})
}
