// Package redistest starts real redis-server processes and in-process
// proxies on free loopback ports for integration tests.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/cache"
	"github.com/redverb/redverb/commands"
	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/proxy"
)

// Redis is a redis-server process owned by a test.
type Redis struct {
	t       testing.TB // fails on a bad Restart; nil outside a test
	Port    int
	TLSPort int // if it also serves TLS
	dir     string
	args    []string
	conf    string // a Sentinel's config file
	cmd     *exec.Cmd
}

// StartRedis starts redis-server on a free loopback port with persistence
// off; extra args are redis-server options ("--maxmemory", "1mb", ...).
// It is stopped when the test ends.
func StartRedis(t testing.TB, args ...string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not found: the integration tests need a real Redis. " +
			"Install it with: sudo apt-get install -y redis-server redis-tools")
	}
	r, err := launch(t.TempDir(), args...)
	if err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	r.t = t
	t.Cleanup(r.Stop)
	return r
}

// launch starts redis-server in dir on a free port; the caller stops it.
func launch(dir string, args ...string) (*Redis, error) {
	r := &Redis{dir: dir, args: args}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if r.Port, err = freePort(); err != nil {
			continue
		}
		if err = r.start(); err == nil {
			return r, nil
		}
	}
	return nil, err
}

func (r *Redis) start() error {
	argv := append([]string{
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir,
		"--protected-mode", "no", "--loglevel", "warning",
	}, r.args...)
	if r.conf != "" { // a Sentinel: its config file first, which it rewrites
		argv = append([]string{r.conf, "--sentinel"}, argv...)
	}
	r.cmd = exec.Command("redis-server", argv...)
	// If the test process dies without cleaning up (killed, timed out, a
	// fuzz worker stopped), the server goes with it.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	r.cmd.Stdout, r.cmd.Stderr = &out, &out
	if err := r.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r.ready() {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	return fmt.Errorf("redis-server did not start: %s", out.String())
}

// ready reports whether the server accepts connections and has finished
// loading its dataset (with persistence on, a restart replays it first).
func (r *Redis) ready() bool {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(resp.AppendCommand(nil, []byte("EXISTS"), []byte("redistest:ready"))); err != nil {
		return false
	}
	reply, err := resp.ReadReply(bufio.NewReader(c), nil)
	// Any answer but -LOADING will do (a cluster node without slots answers
	// -CLUSTERDOWN, and is ready for its test).
	return err == nil && !strings.HasPrefix(string(reply), "-LOADING")
}

// Addr is host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is the backend URL for the proxy.
func (r *Redis) URL() string { return "redis://" + r.Addr() }

// Stop kills the server (as a crash or failover would).
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// Pause freezes the server (SIGSTOP), as a stalled host would.
func (r *Redis) Pause() { r.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume undoes Pause (SIGCONT).
func (r *Redis) Resume() { r.cmd.Process.Signal(syscall.SIGCONT) }

// Restart starts the server again on the same port, with the same options:
// an empty dataset unless they turn persistence on.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	if err := r.start(); err != nil {
		r.t.Fatalf("restarting redis-server: %v", err)
	}
}

// For lets a server started outside a test (a shared cluster node) fail
// the test that restarts it.
func (r *Redis) For(t testing.TB) *Redis {
	r.t = t
	return r
}

// Proxy is an in-process redverb server.
type Proxy struct {
	Server  *proxy.Server
	Backend *backend.Backend
	ln      net.Listener
	sink    *switchableSink // with a cache
}

// ProxyOption adjusts a proxy before it starts.
type ProxyOption func(*proxy.Server, *backend.BackendOptions)

// WithPassword sets requirepass.
func WithPassword(pass string) ProxyOption {
	return func(s *proxy.Server, _ *backend.BackendOptions) { s.RequirePass = pass }
}

// WithServer adjusts the proxy's server settings (limits, logger).
func WithServer(f func(*proxy.Server)) ProxyOption {
	return func(s *proxy.Server, _ *backend.BackendOptions) { f(s) }
}

// WithLogger logs to l instead of the test's log (a fuzz target must not
// log through its testing.F).
func WithLogger(l *zap.Logger) ProxyOption {
	return func(s *proxy.Server, bo *backend.BackendOptions) { s.Logger, bo.Logger = l, l }
}

// WithVerbs serves the built-in verbs plus those in dir (if not empty).
func WithVerbs(t testing.TB, dir string) ProxyOption {
	reg, err := commands.NewRegistry(dir)
	if err != nil {
		t.Logf("verbs refused: %v", err)
	}
	return func(s *proxy.Server, _ *backend.BackendOptions) { s.Verbs = reg }
}

// StartProxy serves a proxy for backendURL on a free loopback port until
// the test ends.
func StartProxy(t testing.TB, backendURL string, opts ...ProxyOption) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ServeProxy(t, ln, backendURL, opts...)
}

// ServeProxy is StartProxy on a listener the test provides.
func ServeProxy(t testing.TB, ln net.Listener, backendURL string, opts ...ProxyOption) *Proxy {
	t.Helper()
	log := zaptest.NewLogger(t)
	bo := backend.BackendOptions{URL: backendURL, Logger: log}
	srv := &proxy.Server{Logger: log, ProtectedMode: true}
	for _, o := range opts {
		o(srv, &bo)
	}
	// As the binary's default: the backend checks AUTH unless the proxy
	// has a password of its own.
	bo.AuthClients = bo.AuthClients || srv.RequirePass == ""
	backend, err := backend.NewBackend(bo)
	if err != nil {
		t.Fatal(err)
	}
	srv.Backend = backend
	p := &Proxy{Server: srv, Backend: backend, ln: ln}
	if srv.Cache != nil {
		p.sink = &switchableSink{Cache: srv.Cache}
		backend.WatchInvalidations(srv.Cache.Prefixes(), p.sink)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Conn is a raw RESP connection that returns replies as the exact bytes
// received, for comparing a proxy with Redis.
type Conn struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

// Dial connects to addr; the connection closes when the test ends.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &Conn{t: t, nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
}

// Do sends one command and returns its raw reply.
func (c *Conn) Do(args ...string) string {
	c.t.Helper()
	c.Send(args...)
	return c.Read()
}

// Send writes one command without reading its reply.
func (c *Conn) Send(args ...string) {
	c.t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	c.Write(resp.AppendCommand(nil, bs...))
}

// Write sends raw bytes.
func (c *Conn) Write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Read returns the next raw reply, failing the test after 10s.
func (c *Conn) Read() string {
	c.t.Helper()
	reply, err := c.ReadErr(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return reply
}

// ReadErr returns the next raw reply or the error that prevented it.
func (c *Conn) ReadErr(timeout time.Duration) (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	b, err := resp.ReadReply(c.r, nil)
	return string(b), err
}

// ReadAll returns everything until the server closes the connection or
// timeout passes.
func (c *Conn) ReadAll(timeout time.Duration) string {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := c.r.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

// For returns the same connection reporting failures to t, for a
// connection opened once and used by each run of a fuzz target.
func (c *Conn) For(t testing.TB) *Conn {
	cp := *c
	cp.t = t
	return &cp
}

// Close closes the connection.
func (c *Conn) Close() { c.nc.Close() }

// NetConn exposes the socket for tests that need it.
func (c *Conn) NetConn() net.Conn { return c.nc }

// ConnectedClients reads connected_clients from INFO on a direct connection.
func (r *Redis) ConnectedClients() int {
	r.t.Helper()
	c := Dial(r.t, r.Addr())
	defer c.Close()
	info := c.Do("INFO", "clients")
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "connected_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n - 1 // not counting this connection
		}
	}
	r.t.Fatalf("no connected_clients in INFO: %q", info)
	return 0
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Bulk encodes s as a RESP bulk string, for writing expected replies.
func Bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

// WithBackend changes the backend options (read from replicas, ...).
func WithBackend(f func(*backend.BackendOptions)) ProxyOption {
	return func(_ *proxy.Server, bo *backend.BackendOptions) { f(bo) }
}

// WithCache turns the proxy's cache on.
func WithCache(opts cache.Options) ProxyOption {
	return func(s *proxy.Server, _ *backend.BackendOptions) { s.Cache = cache.New(opts) }
}

// switchableSink passes Redis's invalidations to a cache, unless a test
// turned them off.
type switchableSink struct {
	*cache.Cache
	off atomic.Bool
}

func (s *switchableSink) Invalidate(keys ...[]byte) {
	if !s.off.Load() {
		s.Cache.Invalidate(keys...)
	}
}

// IgnoreInvalidations stops passing Redis's invalidations to the proxy's
// cache, to show that a test catches the stale reads that follow.
func (p *Proxy) IgnoreInvalidations() { p.sink.off.Store(true) }

// WaitCacheLive waits until the proxy's cache, if any, tracks every
// master: from then on its reads fill it.
func (p *Proxy) WaitCacheLive(t testing.TB) {
	t.Helper()
	if p.Server.Cache == nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for !p.Server.Cache.Stats().Live {
		if time.Now().After(deadline) {
			t.Fatal("the cache did not become live")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
