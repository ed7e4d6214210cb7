package proxy_test

import (
	"strings"
	"testing"

	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/proxy"
)

// A forwarded command allocates nothing: classifying it, batching it on
// the shared connection, reading its reply and counting it.
func TestForwardingDoesNotAllocate(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, ""))
	redistest.Dial(t, r.Addr()).Do("SET", "k", "v")
	for name, pipeline := range map[string]string{
		"GET":     "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"16 GETs": strings.Repeat("*2\r\n$3\r\nget\r\n$1\r\nk\r\n", 16),
		"SET GET": "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
	} {
		if allocs := proxy.ForwardAllocs(t, p.Server, pipeline, 200); allocs > 0 {
			t.Errorf("%s: %.1f allocations per pipeline, want 0", name, allocs)
		}
	}
}
