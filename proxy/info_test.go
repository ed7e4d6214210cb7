package proxy_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/redverb/redverb/internal/redistest"
)

// INFO is the backend's plus a "# Proxy" section; INFO proxy alone is
// redverb's section; other sections are the backend's alone. The reply is
// well framed in RESP2 and RESP3 and keeps its place in a pipeline.
func TestInfoProxySection(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, ""))
	c := redistest.Dial(t, p.Addr())
	body := func(reply string) string {
		t.Helper()
		header, text, _ := strings.Cut(reply, "\r\n")
		n, err := strconv.Atoi(header[1:])
		if err != nil || len(text) != n+2 || !strings.HasSuffix(text, "\r\n") {
			t.Fatalf("badly framed: %q", reply)
		}
		return text[:n]
	}
	all := body(c.Do("INFO"))
	if !strings.Contains(all, "# Server\r\n") || !strings.Contains(all, "\r\n\r\n# Proxy\r\n") || !strings.Contains(all, "backend_state:up\r\n") {
		t.Fatalf("INFO: %q", all)
	}
	only := body(c.Do("INFO", "proxy"))
	if !strings.HasPrefix(only, "# Proxy\r\nredverb_version:") || strings.Contains(only, "# Server") || !strings.Contains(only, "backend_kind:standalone\r\n") {
		t.Fatalf("INFO proxy: %q", only)
	}
	if server := body(c.Do("INFO", "server")); strings.Contains(server, "# Proxy") {
		t.Fatalf("INFO server: %q", server)
	}
	c.Send("PING")
	c.Send("INFO", "PROXY")
	c.Send("CAS", "k", "x", "y")
	expect(t, c.Read(), "+PONG\r\n")
	if !strings.Contains(body(c.Read()), "# Proxy") {
		t.Fatal("INFO PROXY in a pipeline")
	}
	expect(t, c.Read(), ":0\r\n")
	c.Do("HELLO", "3")
	if v := body(c.Do("INFO", "proxy")); !strings.HasPrefix(v, "txt:# Proxy\r\n") {
		t.Fatalf("RESP3 INFO proxy: %q", v)
	}
}
