// Package metrics serves redverb's Prometheus metrics and its health checks.
package metrics

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/stats"
	"github.com/redverb/redverb/proxy"
)

// Handler serves /metrics (Prometheus), /healthz (the process is up) and
// /readyz (the backend answers; 503 while it does not).
func Handler(srv *proxy.Server, backend *backend.Backend) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{srv: srv, backend: backend})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	ready := &readiness{backend: backend}
	mux.HandleFunc("/readyz", ready.serve)
	return mux
}

// readiness asks the backend at most once a second, however often a
// load balancer probes.
type readiness struct {
	backend *backend.Backend
	mu      sync.Mutex
	at      time.Time
	err     error
}

func (r *readiness) serve(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	if time.Since(r.at) > time.Second {
		r.err, r.at = r.backend.Ping(time.Second), time.Now()
	}
	err := r.err
	r.mu.Unlock()
	if err != nil {
		http.Error(w, "backend not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

var (
	connected   = desc("connected_clients", "Clients connected now.")
	blocked     = desc("blocked_clients", "Clients waiting in a blocking command or LOCK ... WAIT.")
	subscribers = desc("pubsub_clients", "Clients in pub/sub mode or MONITOR.")
	dropped     = desc("pubsub_clients_dropped_total", "Pub/sub and MONITOR clients disconnected for not reading (pubsub-output-buffer-limit).")
	commands    = desc("commands_total", "Commands run, by name: the backend's commands and the verbs; any other name is \"other\".", "command")
	latency     = desc("command_duration_seconds", "Time from reading a command to its reply being ready, by command.", "command")
	errorsDesc  = desc("errors_total", "Errors answered and clients refused or closed, by kind.", "kind")
	reloads     = desc("script_reloads_total", "Verb scripts loaded again after the backend answered NOSCRIPT.")
	verbCalls   = desc("verb_calls_total", "Verb calls.")
	backendConn = desc("backend_connections", "Backend connections open: shared (multiplexed), pooled (idle, for dedicated use), dedicated (lent to a client: transactions, blocking, pub/sub).", "state")
	dials       = desc("backend_dials_total", "Backend connections dialled.")
	dialFails   = desc("backend_dial_failures_total", "Backend dials that failed.")
	bytesIn     = desc("client_received_bytes_total", "Bytes received from clients.")
	bytesOut    = desc("client_sent_bytes_total", "Bytes sent to clients.")
	uptime      = desc("uptime_seconds", "Seconds since the process started.")

	cacheHits          = desc("cache_hits_total", "Reads answered from the cache (--cache).")
	cacheMisses        = desc("cache_misses_total", "Cacheable reads sent to the backend.")
	cacheEvictions     = desc("cache_evictions_total", "Entries dropped to stay within cache-max-memory.")
	cacheInvalidations = desc("cache_invalidations_total", "Entries dropped because their key changed.")
	cacheExpirations   = desc("cache_expirations_total", "Entries dropped at their key's expiry or at cache-ttl.")
	cacheRefused       = desc("cache_refused_total", "Replies not cached: their key changed while they were read, or the cache was not tracking every master.")
	cacheFlushes       = desc("cache_flushes_total", "Times every entry was dropped (FLUSHALL, SWAPDB, a lost tracking connection, a new master).")
	cacheBytes         = desc("cache_bytes", "Bytes the cache holds, bookkeeping included.")
	cacheMaxBytes      = desc("cache_max_bytes", "cache-max-memory.")
	cacheEntries       = desc("cache_entries", "Entries the cache holds.")
	cacheLive          = desc("cache_live", "1 while every master's changes reach the cache (it serves and fills), else 0.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("redverb_"+name, help, labels, nil)
}

// collector reads the proxy's counters at scrape time: the hot path only
// adds to atomic counters.
type collector struct {
	srv     *proxy.Server
	backend *backend.Backend
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := stats.Process()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	cc := c.srv.Clients()
	gauge(connected, float64(cc.Connected))
	gauge(blocked, float64(cc.Blocked))
	gauge(subscribers, float64(cc.Subscribers))
	counter(dropped, st.SubscribersDropped.Load())
	for name, cs := range st.Commands() {
		counter(commands, cs.Calls.Load(), name)
		buckets := make(map[float64]uint64, len(stats.LatencyBuckets))
		cumulative := uint64(0)
		for i, le := range stats.LatencyBuckets {
			cumulative += uint64(cs.Buckets[i].Load())
			buckets[le] = cumulative
		}
		count := cumulative + uint64(cs.Buckets[len(stats.LatencyBuckets)].Load())
		ch <- prometheus.MustNewConstHistogram(latency, count, time.Duration(cs.Nanos.Load()).Seconds(), buckets, name)
	}
	for i, kind := range stats.ErrorKinds {
		counter(errorsDesc, st.Errors[i].Load(), kind)
	}
	counter(reloads, st.ScriptReloads.Load())
	counter(verbCalls, st.VerbCalls.Load())
	bs := c.backend.Stats()
	gauge(backendConn, float64(bs.Shared), "shared")
	gauge(backendConn, float64(bs.Idle), "pooled")
	gauge(backendConn, float64(max(bs.Open-bs.Shared-bs.Idle, 0)), "dedicated")
	counter(dials, st.Dials.Load())
	counter(dialFails, st.DialFailures.Load())
	counter(bytesIn, st.BytesIn.Load())
	counter(bytesOut, st.BytesOut.Load())
	gauge(uptime, time.Since(st.Started).Seconds())
	if c.srv.Cache != nil {
		cs := c.srv.Cache.Stats()
		u := func(d *prometheus.Desc, v uint64) { counter(d, int64(v)) }
		u(cacheHits, cs.Hits)
		u(cacheMisses, cs.Misses)
		u(cacheEvictions, cs.Evictions)
		u(cacheInvalidations, cs.Invalidations)
		u(cacheExpirations, cs.Expirations)
		u(cacheRefused, cs.Refused)
		u(cacheFlushes, cs.Flushes)
		gauge(cacheBytes, float64(cs.Bytes))
		gauge(cacheMaxBytes, float64(cs.MaxMemory))
		gauge(cacheEntries, float64(cs.Entries))
		live := 0.0
		if cs.Live {
			live = 1
		}
		gauge(cacheLive, live)
	}
}
