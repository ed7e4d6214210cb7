package proxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/proxy"
)

// --maxclients: one client more than allowed gets Redis's error and is
// closed; once a client leaves, a new one is served.
func TestMaxClients(t *testing.T) {
	r := redistest.StartRedis(t, "--maxclients", "2")
	p := redistest.StartProxy(t, redistest.StartRedis(t).URL(), redistest.WithServer(func(s *proxy.Server) { s.MaxClients = 2 }))
	// Until Redis has reaped the start-up check's connection, it counts
	// as a client.
	for !strings.Contains(string(redistest.Command(r.Addr(), "INFO", "clients")), "connected_clients:1\r\n") {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // and the INFO connection
	for _, addr := range []string{r.Addr(), p.Addr()} {
		a, b := redistest.Dial(t, addr), redistest.Dial(t, addr)
		expect(t, a.Do("PING"), "+PONG\r\n")
		expect(t, b.Do("PING"), "+PONG\r\n")
		third := redistest.Dial(t, addr)
		third.Send("PING")
		expect(t, third.ReadAll(5*time.Second), "-ERR max number of clients reached\r\n")
		a.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c := redistest.Dial(t, addr)
			c.Send("PING")
			got := c.ReadAll(time.Second)
			if got == "+PONG\r\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: after a client left, a new one got %q", addr, got)
			}
			c.Close()
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// --timeout: an idle client is closed; one blocked in a command, one
// subscribed and one that keeps talking are not.
func TestIdleTimeout(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithServer(func(s *proxy.Server) { s.Timeout = time.Second }))
	idle, blocked, sub, busy := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())
	expect(t, idle.Do("PING"), "+PONG\r\n")
	blocked.Send("BLPOP", "nothing", "6")
	expect(t, sub.Do("SUBSCRIBE", "ch"), "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
	for start := time.Now(); time.Since(start) < 3*time.Second; {
		expect(t, busy.Do("PING"), "+PONG\r\n")
		time.Sleep(300 * time.Millisecond)
	}
	if got, err := idle.ReadErr(time.Second); err != io.EOF {
		t.Fatalf("the idle client, 3s later: %q, %v; want it closed", got, err)
	}
	expect(t, redistest.Dial(t, p.Addr()).Do("PUBLISH", "ch", "still here"), ":1\r\n")
	expect(t, sub.Read(), "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$10\r\nstill here\r\n")
	expect(t, blocked.Read(), "*-1\r\n") // BLPOP's own timeout, 6s
}

// client-query-buffer-limit: a command whose argument passes the limit
// closes the client without a reply, with Redis's log line, and changes
// nothing; below the limit all is as usual.
func TestQueryBufferLimit(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	r := redistest.StartRedis(t, "--client-query-buffer-limit", "1mb")
	p := redistest.StartProxy(t, r.URL(), redistest.WithServer(func(s *proxy.Server) {
		s.QueryBufferLimit = 1 << 20
		s.Logger = zap.New(core)
	}))
	for _, addr := range []string{r.Addr(), p.Addr()} {
		c := redistest.Dial(t, addr)
		expect(t, c.Do("SET", "k", strings.Repeat("a", 512<<10)), "+OK\r\n")
		// The server may close before all of it is written: a raw write,
		// whose error does not matter.
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(resp.AppendCommand(nil, []byte("SET"), []byte("k"), bytes.Repeat([]byte("b"), 2<<20)))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(nc)
		var ne net.Error
		if len(got) != 0 || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: over the query buffer limit got %q, %v; want the connection closed", addr, got, err)
		}
		expect(t, redistest.Dial(t, addr).Do("STRLEN", "k"), ":524288\r\n")
	}
	if logs.FilterMessageSnippet("Closing client that reached max query buffer length").Len() != 1 {
		t.Fatalf("log: %v", logs.All())
	}
}
