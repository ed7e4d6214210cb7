package metrics_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redverb/redverb/cache"
	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/metrics"
)

func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// The counters follow what clients did: commands by name (unknown names
// as "other"), their latency, verbs, errors by kind, clients and backend
// connections; /healthz is up, /readyz follows the backend.
func TestMetricsFollowTraffic(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, ""))
	web := httptest.NewServer(metrics.Handler(p.Server, p.Backend))
	defer web.Close()

	c := redistest.Dial(t, p.Addr())
	for i := 0; i < 3; i++ {
		c.Do("SET", "a", "1")
	}
	c.Do("GET", "a")
	c.Do("NOTACOMMAND")
	c.Do("WHATEVER", "x")
	c.Do("CAS", "a", "1", "2")
	c.Do("CAS", "a", "1", "2", "EX", "nope") // refused in the proxy
	bad, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	bad.Write([]byte("*1\r\n$x\r\n")) // malformed
	io.ReadAll(bad)
	sub := redistest.Dial(t, p.Addr())
	sub.Do("SUBSCRIBE", "ch")
	blocked := redistest.Dial(t, p.Addr())
	blocked.Send("BLPOP", "nothing", "2")
	time.Sleep(100 * time.Millisecond)

	code, body := scrape(t, web.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`redverb_commands_total{command="set"} 3`,
		`redverb_commands_total{command="get"} 1`,
		`redverb_commands_total{command="cas"} 2`,
		`redverb_commands_total{command="other"} 2`,
		`redverb_command_duration_seconds_count{command="set"} 3`,
		`redverb_command_duration_seconds_bucket{command="set",le="+Inf"} 3`,
		`redverb_verb_calls_total 2`,
		`redverb_errors_total{kind="verb_refused"} 1`,
		`redverb_errors_total{kind="protocol"} 1`,
		`redverb_errors_total{kind="backend_unavailable"} 0`,
		`redverb_connected_clients 3`,
		`redverb_blocked_clients 1`,
		`redverb_pubsub_clients 1`,
		`redverb_backend_connections{state="shared"} 1`,
		`redverb_backend_connections{state="dedicated"} 2`,
		"redverb_client_received_bytes_total ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `command="notacommand"`) || strings.Contains(body, `command="whatever"`) {
		t.Error("unknown command names became labels")
	}

	if code, _ := scrape(t, web.URL+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, _ := scrape(t, web.URL+"/readyz"); code != 200 {
		t.Fatalf("/readyz with the backend up: %d", code)
	}
	r.Stop()
	time.Sleep(1100 * time.Millisecond) // readiness is asked at most once a second
	if code, body := scrape(t, web.URL+"/readyz"); code != 503 || !strings.Contains(body, "backend not ready") {
		t.Fatalf("/readyz with the backend down: %d %q", code, body)
	}
	c.Do("GET", "a")
	if _, body := scrape(t, web.URL+"/metrics"); strings.Contains(body, `redverb_errors_total{kind="backend_unavailable"} 0`) {
		t.Error("a backend error was not counted")
	}
	if _, body := scrape(t, web.URL+"/healthz"); !strings.Contains(body, "ok") {
		t.Error("/healthz follows the process, not the backend")
	}
}

// With the cache on, its counters and size are served.
func TestCacheMetrics(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithCache(cache.Options{MaxMemory: 2 << 20}))
	p.WaitCacheLive(t)
	web := httptest.NewServer(metrics.Handler(p.Server, p.Backend))
	defer web.Close()
	c := redistest.Dial(t, p.Addr())
	c.Do("SET", "k", "v")
	c.Do("GET", "k") // miss
	c.Do("GET", "k") // hit
	c.Do("GET", "k") // hit
	c.Do("DEL", "k") // invalidates
	_, body := scrape(t, web.URL+"/metrics")
	for _, want := range []string{
		"redverb_cache_hits_total 2\n", "redverb_cache_misses_total 1\n", "redverb_cache_invalidations_total 1\n",
		"redverb_cache_entries 0\n", "redverb_cache_bytes 0\n", "redverb_cache_max_bytes 2.097152e+06\n", "redverb_cache_live 1\n",
		"redverb_cache_evictions_total 0\n", "redverb_cache_flushes_total 0\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	info := c.Do("INFO", "cache")
	for _, want := range []string{"# Cache\r\n", "cache_enabled:1\r\n", "cache_hits:2\r\n", "cache_misses:1\r\n", "cache_hit_ratio:0.6667\r\n", "cache_max_memory:2097152\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO cache lacks %q:\n%s", want, info)
		}
	}
}
