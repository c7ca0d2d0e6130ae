package monitoring_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"arkive.io/arkive/internal/monitoring"
	"arkive.io/arkive/internal/testenv"
)

var dir = filepath.Join("..", "..", "deploy", "monitoring")

// Issue 21, acceptance 3 (the rules' part): promtool accepts the rules and their unit tests
// pass, and those tests make every alert fire at least once.
func TestAlertRules(t *testing.T) {
	promtool := testenv.Promtool(t)
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "rules_test.yaml"))
	require.NoError(t, err)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &tests))
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	for _, a := range monitoring.Alerts {
		require.True(t, fires[a.Name], "rules_test.yaml has no case in which %s fires", a.Name)
	}
}

// The committed files are what the code renders (verify-generated regenerates them too).
func TestGeneratedFilesAreCurrent(t *testing.T) {
	for name, render := range map[string]func() ([]byte, error){
		"rules.yaml":          func() ([]byte, error) { return monitoring.RulesFile("") },
		"prometheusrule.yaml": monitoring.PrometheusRule,
		"dashboard.json":      monitoring.Dashboard,
	} {
		want, err := render()
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "deploy/monitoring/%s is stale: run make monitoring", name)
	}
}
