// Package monitoring defines Arkive's alerts and dashboard as data, on the metrics of
// docs/metrics.md, and renders them: a Prometheus rules file, the same rules as a
// prometheus-operator PrometheusRule, and a Grafana dashboard (built with Grafana's
// Apache-licensed foundation SDK, not hand-written JSON). `make monitoring` writes them to
// deploy/monitoring; tests run every query against a real Prometheus.
package monitoring

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"sigs.k8s.io/yaml"
)

// Alert is one alerting rule.
type Alert struct {
	Name string
	// Expr returns a series for each thing in trouble.
	Expr string
	// Series selects what Expr is computed from, which exists when all is well too: a test
	// checks a live Prometheus has it, so a renamed metric cannot leave an alert silent.
	Series string
	// For is how long Expr must hold before the alert fires.
	For      string
	Severity string
	Summary  string
	// Description may use the series' labels ({{ $labels.name }}) and value ({{ $value }}).
	Description string
}

// Alerts are the rules every Arkive installation should have.
var Alerts = []Alert{
	{Name: "ArkiveBackupStale", Series: `arkive_backup_rpo_seconds`, Severity: "critical", For: "5m",
		Expr: `arkive_backup_age_seconds > on (kind, namespace, name) arkive_backup_rpo_seconds
  unless on (kind, namespace, name) arkive_resource_phase{phase="Paused"} == 1`,
		Summary:     "A backup's last success is older than its recovery point objective.",
		Description: "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.name }} last succeeded {{ $value | humanizeDuration }} ago, beyond its RPO (annotation arkive.io/rpo, or two intervals and a minute). `arkive status {{ $labels.kind }}/{{ $labels.name }} -n {{ $labels.namespace }}` says why."},
	{Name: "ArkiveBackupFailed", Series: `arkive_resource_phase{kind=~".*backup"}`, Severity: "critical", For: "1m",
		Expr:        `arkive_resource_phase{kind=~".*backup", phase=~"Failed|Error"} == 1`,
		Summary:     "A backup stopped on an error that needs a person.",
		Description: "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.name }} is {{ $labels.phase }}: its status's lastError and the WorkflowReady condition say why."},
	{Name: "ArkiveBackupRunFailed", Series: `arkive_runs_total`, Severity: "warning", For: "0m",
		Expr:        `increase(arkive_runs_total{outcome="Failed"}[1h]) > 0`,
		Summary:     "A scheduled or triggered backup run failed in the last hour.",
		Description: "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.name }}: a run failed (kubectl describe lists it as a RunFailed event)."},
	{Name: "ArkiveRestoreFailed", Series: `arkive_resource_phase{kind=~".*restore"}`, Severity: "critical", For: "0m",
		Expr:        `arkive_resource_phase{kind=~".*restore", phase="Failed"} == 1`,
		Summary:     "A restore failed.",
		Description: "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.name }} failed: its status says what was written and why it stopped."},
	{Name: "ArkiveWorkerMissing", Series: `arkive_worker_info`, Severity: "critical", For: "5m",
		Expr:        `absent(arkive_worker_info == 1)`,
		Summary:     "No Arkive worker reports to Prometheus.",
		Description: "No worker exports arkive_worker_info: backups and restores make no progress without one (or the workers are not scraped)."},
	{Name: "ArkiveBackupLagGrowing", Series: `arkive_backup_lag_records`, Severity: "warning", For: "30m",
		Expr:        `deriv(arkive_backup_lag_records[30m]) > 0 and min_over_time(arkive_backup_lag_records[30m]) > 0`,
		Summary:     "A Kafka backup falls further behind its topics.",
		Description: "{{ $labels.namespace }}/{{ $labels.name }} has been behind for 30 minutes and the gap grows ({{ $value | humanize }} records/s): add workers, raise the rate limit, or check the worker's CPU."},
	{Name: "ArkiveBackupPausedLong", Series: `arkive_paused_seconds`, Severity: "info", For: "1h",
		Expr:        `arkive_paused_seconds > 86400`,
		Summary:     "A backup has been paused for more than a day.",
		Description: "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.name }} has been paused for {{ $value | humanizeDuration }}: nothing is backed up meanwhile."},
}

// Query is one query of a panel.
type Query struct{ Expr, Legend string }

// Panel is one dashboard panel.
type Panel struct {
	Title, Description string
	// Type is timeseries, stat or table.
	Type, Unit string
	Queries    []Query
}

// Panels are the dashboard's, top to bottom, two to a row.
var Panels = []Panel{
	{Title: "Backup age against its RPO", Type: "timeseries", Unit: "s",
		Description: "Seconds since each backup's last success, and the age at which it is stale.",
		Queries: []Query{{`arkive_backup_age_seconds`, "{{kind}} {{namespace}}/{{name}}"},
			{`arkive_backup_rpo_seconds`, "RPO {{kind}} {{namespace}}/{{name}}"}}},
	{Title: "Resources by phase", Type: "table",
		Description: "Every backup and restore and the phase its status shows.",
		Queries:     []Query{{`arkive_resource_phase == 1`, ""}}},
	{Title: "Kafka backup lag", Type: "timeseries", Unit: "short",
		Description: "Records the topics hold beyond what each backup has stored.",
		Queries:     []Query{{`arkive_backup_lag_records`, "{{namespace}}/{{name}}"}}},
	{Title: "Records per second", Type: "timeseries", Unit: "short",
		Description: "Records captured into storage and restored to targets.",
		Queries:     []Query{{`sum by (kind, namespace, name, direction) (rate(arkive_records_total[5m]))`, "{{direction}} {{namespace}}/{{name}}"}}},
	{Title: "Bytes written to storage per second", Type: "timeseries", Unit: "Bps",
		Description: "After compression and encryption.",
		Queries:     []Query{{`sum by (kind, namespace, name) (rate(arkive_stored_bytes_total[5m]))`, "{{kind}} {{namespace}}/{{name}}"}}},
	{Title: "Restore progress", Type: "timeseries", Unit: "percentunit",
		Queries: []Query{{`arkive_restore_progress_ratio`, "{{kind}} {{namespace}}/{{name}}"}}},
	{Title: "Failed activity attempts per second", Type: "timeseries", Unit: "short",
		Description: "By activity and error type: a retried cause shows here before it shows in a status.",
		Queries:     []Query{{`sum by (kind, activity, type) (rate(arkive_activity_failures_total[5m]))`, "{{activity}} {{type}}"}}},
	{Title: "Runs in the last day by outcome", Type: "stat",
		Queries: []Query{{`sum by (outcome) (increase(arkive_runs_total[1d]))`, "{{outcome}}"}}},
	{Title: "Workers", Type: "stat",
		Description: "Workers reporting, by task queue.",
		Queries:     []Query{{`sum by (task_queue) (arkive_worker_info)`, "{{task_queue}}"}}},
	{Title: "Snapshots kept", Type: "timeseries", Unit: "short",
		Queries: []Query{{`arkive_backup_snapshots`, "{{kind}} {{namespace}}/{{name}}"}}},
}

// group is the rules file's one group.
func group(forOverride string) map[string]any {
	var rules []map[string]any
	for _, a := range Alerts {
		f := a.For
		if forOverride != "" {
			f = forOverride
		}
		rules = append(rules, map[string]any{"alert": a.Name, "expr": a.Expr, "for": f,
			"labels":      map[string]string{"severity": a.Severity},
			"annotations": map[string]string{"summary": a.Summary, "description": a.Description}})
	}
	return map[string]any{"name": "arkive", "rules": rules}
}

const header = "# Generated by `make monitoring` from internal/monitoring: do not edit.\n"

// RulesFile is the alerts as a Prometheus rules file. forOverride, when set, replaces every
// alert's for (a test that cannot wait minutes); the committed file has none.
func RulesFile(forOverride string) ([]byte, error) {
	b, err := yaml.Marshal(map[string]any{"groups": []any{group(forOverride)}})
	return append([]byte(header), b...), err
}

// PrometheusRule is the alerts as a prometheus-operator PrometheusRule.
func PrometheusRule() ([]byte, error) {
	b, err := yaml.Marshal(map[string]any{"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
		"metadata": map[string]any{"name": "arkive", "labels": map[string]string{"app.kubernetes.io/name": "arkive"}},
		"spec":     map[string]any{"groups": []any{group("")}}})
	return append([]byte(header), b...), err
}

// Dashboard is the Grafana dashboard JSON, with a Prometheus data source variable.
func Dashboard() ([]byte, error) {
	ds := common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
	//lint:ignore SA1019 the v2 schema imports only into Grafana 12 and later; v1 JSON imports into every version in use.
	d := dashboard.NewDashboardBuilder("Arkive").Uid("arkive").Tags([]string{"arkive", "backup"}).
		Description("Backups and restores run by Arkive: are they current, are they moving, what failed.").
		Refresh("1m").Time("now-6h", "now").Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus"))
	for _, p := range Panels {
		var targets []*prometheus.DataqueryBuilder
		for i, q := range p.Queries {
			targets = append(targets, prometheus.NewDataqueryBuilder().Expr(q.Expr).LegendFormat(q.Legend).RefId(string(rune('A'+i))))
		}
		switch p.Type {
		case "timeseries":
			b := timeseries.NewPanelBuilder().Title(p.Title).Description(p.Description).Unit(p.Unit).Datasource(ds).Height(8).Span(12)
			for _, t := range targets {
				b.WithTarget(t)
			}
			d.WithPanel(b)
		case "stat":
			b := stat.NewPanelBuilder().Title(p.Title).Description(p.Description).Datasource(ds).Height(8).Span(12)
			for _, t := range targets {
				b.WithTarget(t)
			}
			d.WithPanel(b)
		case "table":
			b := table.NewPanelBuilder().Title(p.Title).Description(p.Description).Datasource(ds).Height(8).Span(12)
			for _, t := range targets {
				b.WithTarget(t.Instant())
			}
			d.WithPanel(b)
		default:
			return nil, fmt.Errorf("panel %q: type %q is not timeseries, stat or table", p.Title, p.Type)
		}
	}
	built, err := d.Build()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(built, "", "  ")
	return append(b, '\n'), err
}
