package proxy_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/proxy"
)

// Malformed input gets, byte for byte, what redis-server answers (an error
// and a closed connection, or silence), and the proxy keeps serving others.
func TestMalformedInputMatchesRedis(t *testing.T) {
	direct := redistest.StartRedis(t)
	behind := redistest.StartRedis(t)
	p := redistest.StartProxy(t, behind.URL())
	cases := map[string]string{
		"bad multibulk count":   "*abc\r\n",
		"multibulk too large":   "*99999999999\r\n",
		"expected dollar":       "*1\r\n:5\r\n",
		"bad bulk length":       "*1\r\n$x\r\n",
		"negative bulk length":  "*1\r\n$-5\r\n",
		"bulk over 512MB":       "*1\r\n$600000000\r\n",
		"unbalanced quotes":     "SET \"a b\r\n",
		"empty commands":        "*0\r\n*-1\r\n\r\nPING\r\n",
		"inline command":        "SET inline \"two words\"\r\nGET inline\r\n",
		"commands then garbage": "PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n",
		"inline too long":       strings.Repeat("a", 70<<10),
		"bulk header too long":  "*1\r\n$" + strings.Repeat("1", 70<<10),
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			got := make([]string, 2)
			for i, addr := range []string{direct.Addr(), p.Addr()} {
				c := redistest.Dial(t, addr)
				c.Write([]byte(input))
				got[i] = c.ReadAll(500 * time.Millisecond)
			}
			if got[0] != got[1] {
				t.Fatalf("input %.40q:\n redis: %q\n proxy: %q", input, got[0], got[1])
			}
		})
	}
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("PING"), "+PONG\r\n")
}

// Clients that vanish mid-pipeline lose nothing for anyone else.
func TestClientsVanishingMidPipeline(t *testing.T) {
	r, p := setup(t)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			var buf []byte
			for j := 0; j < 500; j++ {
				buf = append(buf, "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n"...)
			}
			buf = append(buf, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\npartial"...) // cut mid-bulk
			nc.Write(buf)
			nc.Close()
		}()
	}
	wg.Wait()
	c := redistest.Dial(t, p.Addr())
	waitFor(t, func() bool { return c.Do("GET", "counter") == redistest.Bulk("25000") })
	expect(t, c.Do("EXISTS", "k"), ":0\r\n")
	expect(t, redistest.Dial(t, r.Addr()).Do("GET", "counter"), redistest.Bulk("25000"))
	// Every vanished client's session ended, replies in flight or not.
	waitFor(t, func() bool { return p.Server.Clients().Connected == 1 })
}

// While the backend is down every command gets a prompt error, and the
// proxy recovers by itself when the backend is back.
func TestBackendStopAndStart(t *testing.T) {
	r, p := setup(t)
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("SET", "k", "v"), "+OK\r\n")
	sub := redistest.Dial(t, p.Addr())
	sub.Do("SUBSCRIBE", "ch")

	r.Stop()
	for i := 0; i < 3; i++ {
		c.Send("GET", "k")
		reply, err := c.ReadErr(5 * time.Second)
		if err != nil || !strings.HasPrefix(reply, "-ERR backend unavailable") {
			t.Fatalf("with the backend down: %q, %v", reply, err)
		}
	}
	c.Send("MULTI")
	if reply := c.Read(); !strings.HasPrefix(reply, "-ERR backend unavailable") {
		t.Fatalf("MULTI with the backend down: %q", reply)
	}
	// The subscriber is disconnected so that it resubscribes.
	if _, err := sub.ReadErr(5 * time.Second); err == nil {
		t.Fatal("subscriber still connected after the backend died")
	}

	r.Restart()
	waitFor(t, func() bool { return c.Do("SET", "k", "again") == "+OK\r\n" })
	expect(t, c.Do("GET", "k"), redistest.Bulk("again"))
	expect(t, c.Do("MULTI"), "+OK\r\n")
	expect(t, c.Do("INCR", "n"), "+QUEUED\r\n")
	expect(t, c.Do("EXEC"), "*1\r\n:1\r\n")
}

// Shutdown lets a running command finish and answer, then closes.
func TestShutdownDrains(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL())
	busy := redistest.Dial(t, p.Addr())
	idle := redistest.Dial(t, p.Addr())
	expect(t, idle.Do("PING"), "+PONG\r\n")
	busy.Send("BLPOP", "nothing", "0.5")
	time.Sleep(100 * time.Millisecond)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- p.Server.Shutdown(ctx)
	}()
	expect(t, busy.Read(), "*-1\r\n")
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := idle.ReadErr(time.Second); err == nil {
		t.Fatal("idle client still connected after shutdown")
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// fakeRemote makes accepted connections look as if they came from another
// host, and the listener look public, to exercise protected mode without
// sending traffic anywhere but loopback.
type fakeRemote struct{ net.Listener }

type remoteConn struct{ net.Conn }

func (l fakeRemote) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return remoteConn{c}, err
}

func (l fakeRemote) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4zero, Port: l.Listener.Addr().(*net.TCPAddr).Port}
}

func (remoteConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 5000}
}

func TestProtectedMode(t *testing.T) {
	r := redistest.StartRedis(t)
	listen := func(opts ...redistest.ProxyOption) *redistest.Proxy {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return redistest.ServeProxy(t, fakeRemote{ln}, r.URL(), opts...)
	}
	p := listen()
	got := redistest.Dial(t, p.Addr()).ReadAll(2 * time.Second)
	if !strings.HasPrefix(got, "-DENIED redverb is running in protected mode") || !strings.Contains(got, "--requirepass") || !strings.Contains(got, "--protected-mode no") {
		t.Fatalf("non-loopback client in protected mode got %q", got)
	}
	withPass := listen(redistest.WithPassword("pw"))
	expect(t, redistest.Dial(t, withPass.Addr()).Do("PING"), "-NOAUTH Authentication required.\r\n")
	unprotected := listen(func(s *proxy.Server, _ *backend.BackendOptions) { s.ProtectedMode = false })
	expect(t, redistest.Dial(t, unprotected.Addr()).Do("PING"), "+PONG\r\n")
}
