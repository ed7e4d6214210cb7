// Package stats counts what this redverb process does, for metrics and
// INFO: errors by kind, connections, verbs, and each command's calls and
// latency.
package stats

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what the proxies of this process do, for metrics and INFO
// (one redverb process serves one of each). Counting costs an atomic add on
// the hot path; readers (a Prometheus scrape, INFO) read the counters when
// asked.
type Stats struct {
	Started time.Time

	BytesIn, BytesOut atomic.Int64
	// Errors by kind, see ErrorKinds.
	Errors [numErrorKinds]atomic.Int64
	// Dials and DialFailures count backend connections opened and failed.
	Dials, DialFailures atomic.Int64
	// SubscribersDropped counts pub/sub and MONITOR clients disconnected
	// for not reading (pubsub-output-buffer-limit).
	SubscribersDropped atomic.Int64
	VerbCalls          atomic.Int64
	// ScriptReloads counts NOSCRIPT recoveries: a verb's script loaded
	// again because the backend had lost it.
	ScriptReloads atomic.Int64

	mu       sync.Mutex // held to add a command
	commands atomic.Pointer[map[string]*CommandStats]
	other    CommandStats
}

var process = Stats{Started: time.Now()}

// Process returns this process's counters.
func Process() *Stats { return &process }

// Count counts an error of a kind.
func (st *Stats) Count(kind ErrorKind) { st.Errors[kind].Add(1) }

// Other counts the commands that are neither the backend's nor the
// proxy's, under one name, so that the set of names stays bounded.
func (st *Stats) Other() *CommandStats { return &st.other }

// ErrorKind names a kind of error reply or disconnection.
type ErrorKind int

const (
	ErrBackend     ErrorKind = iota // -ERR backend unavailable: ...
	ErrProtocol                     // malformed input: -ERR Protocol error, connection closed
	ErrVerbRefused                  // a verb's arguments refused before reaching the backend
	ErrTimeout                      // a client closed by --timeout
	ErrOutputLimit                  // a client closed for not reading its replies
	ErrQueryBuffer                  // a client closed by client-query-buffer-limit
	ErrMaxClients                   // a client refused by --maxclients
	numErrorKinds
)

// ErrorKinds are the kinds' names, as metrics label them.
var ErrorKinds = [numErrorKinds]string{"backend_unavailable", "protocol", "verb_refused", "timeout", "output_limit", "query_buffer", "maxclients"}

// LatencyBuckets are the upper bounds, in seconds, of the latency
// histograms: from 50µs to 10s.
var LatencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10}

// CommandStats counts one command's calls and their latency (from the
// proxy reading the command to its reply being ready).
type CommandStats struct {
	Calls   atomic.Int64
	Buckets [16]atomic.Int64 // Buckets[i] counts latencies <= LatencyBuckets[i]; the last ones +Inf
	Nanos   atomic.Int64     // sum of latencies
}

// Observe counts a call that took d.
func (c *CommandStats) Observe(d time.Duration) {
	c.Calls.Add(1)
	c.Nanos.Add(int64(d))
	s := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	c.Buckets[i].Add(1)
}

// Commands returns the counted commands by name, with "other" for every
// name that is neither a command of the backend nor a verb.
func (st *Stats) Commands() map[string]*CommandStats {
	out := map[string]*CommandStats{"other": &st.other}
	if m := st.commands.Load(); m != nil {
		for name, c := range *m {
			out[name] = c
		}
	}
	return out
}

// Named returns the stats of a command by its lower-case name, adding it.
// The proxy's command table calls it once per command it counts.
func (st *Stats) Named(name string) *CommandStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	old := st.commands.Load()
	next := map[string]*CommandStats{}
	if old != nil {
		if c := (*old)[name]; c != nil {
			return c
		}
		for k, v := range *old {
			next[k] = v
		}
	}
	c := &CommandStats{}
	next[name] = c
	st.commands.Store(&next)
	return c
}
