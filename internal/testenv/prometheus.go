package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PrometheusServer is a real Prometheus (Debian's package) scraping a test's endpoints every
// second and evaluating its rules every second.
type PrometheusServer struct {
	URL string
}

// StartPrometheus starts Prometheus scraping targets (host:port, path /metrics) with the rules
// file's content; the test's cleanup stops it.
func StartPrometheus(t *testing.T, targets []string, rules []byte) *PrometheusServer {
	t.Helper()
	bin := Prometheus(t)
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, target := range targets {
		quoted[i] = fmt.Sprintf("%q", target)
	}
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
  - job_name: arkive
    static_configs: [{targets: [%s]}]
`, strings.Join(quoted, ", "))
	for name, content := range map[string][]byte{"prometheus.yml": []byte(config), "rules.yaml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.console.templates=/dev/null", "--web.console.libraries=/dev/null")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		_ = log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("prometheus log:\n%s", out)
		}
	})
	p := &PrometheusServer{URL: "http://" + addr}
	Eventually(t, time.Minute, "Prometheus is ready", func() (bool, string) {
		resp, err := http.Get(p.URL + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// Sample is one series of an instant query's answer.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Float is the sample's value.
func (s Sample) Float() float64 {
	var f float64
	if v, ok := s.Value[1].(string); ok {
		_, _ = fmt.Sscan(v, &f)
	}
	return f
}

// Query runs an instant PromQL query through the HTTP API.
func (p *PrometheusServer) Query(expr string) ([]Sample, error) {
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []Sample `json:"result"`
		} `json:"data"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(expr), &out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, out.Error)
	}
	return out.Data.Result, nil
}

// Alert is an alert Prometheus holds, pending or firing.
type Alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// Alerts lists the alerts Prometheus holds.
func (p *PrometheusServer) Alerts() ([]Alert, error) {
	var out struct {
		Data struct {
			Alerts []Alert `json:"alerts"`
		} `json:"data"`
	}
	err := p.get("/api/v1/alerts", &out)
	return out.Data.Alerts, err
}

func (p *PrometheusServer) get(path string, into any) error {
	resp, err := http.Get(p.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(into)
}
