// Command monitoring writes deploy/monitoring's generated files from internal/monitoring:
// the Prometheus rules file, the PrometheusRule and the Grafana dashboard.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"arkive.io/arkive/internal/monitoring"
)

func main() {
	dir := filepath.Join("deploy", "monitoring")
	files := map[string]func() ([]byte, error){
		"rules.yaml":          func() ([]byte, error) { return monitoring.RulesFile("") },
		"prometheusrule.yaml": monitoring.PrometheusRule,
		"dashboard.json":      monitoring.Dashboard,
	}
	for name, render := range files {
		b, err := render()
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "monitoring: %s: %v\n", name, err)
			os.Exit(1)
		}
	}
}
