package storeserver

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, in a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	conflicts prometheus.Counter
	dbErrors  prometheus.Counter
	authFail  *prometheus.CounterVec
	revokes   prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_store_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_store_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_store_conflicts_total",
			Help: "Writes refused with 412 because the expected version was stale or the record existed.",
		}),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_store_db_errors_total",
			Help: "Database operations that failed (answered 503 or 500).",
		}),
		authFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_store_auth_failures_total",
			Help: "Requests refused by authentication (401) or authorisation (403).",
		}, []string{"code"}),
		revokes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_store_revocations_total",
			Help: "Records revoked by an administrator.",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.conflicts, m.dbErrors, m.authFail, m.revokes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
