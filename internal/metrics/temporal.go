package metrics

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// Handler is a client.MetricsHandler that registers one Prometheus vector per metric name.
// Prometheus needs one label set per name, so the set is fixed at a name's first use; later
// uses fill a missing label with "" and leave out a label the set does not have.
type Handler struct {
	r    *registry
	tags map[string]string
}

type vec struct {
	labels []string
	with   func(values []string) any
}

type registry struct {
	reg  prometheus.Registerer
	mu   sync.Mutex
	vecs map[string]*vec
}

var (
	registriesMu sync.Mutex
	registries   = map[prometheus.Registerer]*registry{}
)

// New returns a handler that registers its metrics with reg (prometheus.DefaultRegisterer
// for the /metrics endpoint that promhttp.Handler serves). Handlers of one reg share its
// metrics, as several Temporal clients in one process would.
func New(reg prometheus.Registerer) *Handler {
	registriesMu.Lock()
	defer registriesMu.Unlock()
	r, ok := registries[reg]
	if !ok {
		r = &registry{reg: reg, vecs: map[string]*vec{}}
		registries[reg] = r
	}
	return &Handler{r: r}
}

var _ client.MetricsHandler = (*Handler)(nil)

// WithTags returns a handler whose metrics carry tags in addition to this one's.
func (h *Handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[sanitize(k)] = v
	}
	for k, v := range tags {
		merged[sanitize(k)] = v
	}
	return &Handler{r: h.r, tags: merged}
}

type counter struct{ c prometheus.Counter }

func (c counter) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type timer struct{ o prometheus.Observer }

func (t timer) Record(d time.Duration) { t.o.Observe(d.Seconds()) }

// Counter is a Prometheus counter of the name.
func (h *Handler) Counter(name string) client.MetricsCounter {
	return counter{metric(h, sanitize(name), func(labels []string) (prometheus.Collector, func([]string) any) {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: sanitize(name), Help: "Temporal SDK counter " + name}, labels)
		return v, func(vals []string) any { return v.WithLabelValues(vals...) }
	}).(prometheus.Counter)}
}

// Gauge is a Prometheus gauge of the name.
func (h *Handler) Gauge(name string) client.MetricsGauge {
	return metric(h, sanitize(name), func(labels []string) (prometheus.Collector, func([]string) any) {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: sanitize(name), Help: "Temporal SDK gauge " + name}, labels)
		return v, func(vals []string) any { return gauge{v.WithLabelValues(vals...)} }
	}).(gauge)
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

// Timer is a Prometheus histogram of seconds, named <name>_seconds.
func (h *Handler) Timer(name string) client.MetricsTimer {
	full := sanitize(name) + "_seconds"
	return timer{metric(h, full, func(labels []string) (prometheus.Collector, func([]string) any) {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: full, Help: "Temporal SDK timer " + name + ", in seconds",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14)}, labels)
		return v, func(vals []string) any { return v.WithLabelValues(vals...) }
	}).(prometheus.Observer)}
}

// metric returns the series of name with the handler's tags, making and registering its vector
// (with the tags' keys as labels) at the name's first use.
func metric(h *Handler, name string, newVec func(labels []string) (prometheus.Collector, func([]string) any)) any {
	r := h.r
	r.mu.Lock()
	v, ok := r.vecs[name]
	if !ok {
		labels := make([]string, 0, len(h.tags))
		for k := range h.tags {
			labels = append(labels, k)
		}
		slices.Sort(labels)
		c, with := newVec(labels)
		// Handlers of one registerer share a registry (New), so a name is registered once; a
		// clash with some other collector leaves this metric unexported rather than failing.
		_ = r.reg.Register(c)
		v = &vec{labels: labels, with: with}
		r.vecs[name] = v
	}
	r.mu.Unlock()
	vals := make([]string, len(v.labels))
	for i, l := range v.labels {
		vals[i] = h.tags[l]
	}
	return v.with(vals)
}

// sanitize makes a Prometheus metric or label name: letters, digits and '_'.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}
