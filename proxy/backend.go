package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redverb/redverb/internal/resp"
	"go.uber.org/zap"
)

// BackendOptions configure how the proxy reaches its Redis.
type BackendOptions struct {
	// URL is redis://[user:pass@]host:port[/db] or rediss:// for TLS.
	URL string
	// DialTimeout bounds connecting and the handshake. If zero, 2s.
	DialTimeout time.Duration
	// SharedConns is how many multiplexed connections carry ordinary
	// commands for each (database, protocol) pair. If zero, 1: one
	// connection batches best; more help only when one backend connection
	// is the bottleneck (large values).
	SharedConns int
	// MaxIdle is how many dedicated connections (transactions, blocking
	// commands) are kept open for reuse. If zero, 64.
	MaxIdle int
	Logger  *zap.Logger
}

// Backend owns every connection to the Redis behind the proxy: a few shared
// connections that multiplex the ordinary commands of all clients, and a pool
// of dedicated ones lent to a single client for transactions, blocking
// commands and pub/sub.
type Backend struct {
	opts   BackendOptions
	redis  *redis.Options
	dialer net.Dialer
	log    *zap.Logger

	open atomic.Int64 // connections dialled and not yet closed

	mu     sync.Mutex
	shared map[connKey][]*pipe
	spill  map[connKey]*pipe // takes new batches while a shared connection is stalled (see pipeFor)
	idle   map[connKey][]*conn
	closed bool
	server serverInfo
}

// connKey names the connection state a client needs: its selected database
// and its protocol version.
type connKey struct {
	db    int
	proto int
}

// NewBackend parses the URL; it does not connect.
func NewBackend(opts BackendOptions) (*Backend, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 2 * time.Second
	}
	if opts.SharedConns == 0 {
		opts.SharedConns = 1
	}
	if opts.MaxIdle == 0 {
		opts.MaxIdle = 64
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Backend{
		opts:   opts,
		redis:  ro,
		dialer: net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
		log:    opts.Logger,
		shared: make(map[connKey][]*pipe),
		spill:  make(map[connKey]*pipe),
		idle:   make(map[connKey][]*conn),
	}, nil
}

// DB is the database the backend URL selects; clients start there.
func (b *Backend) DB() int { return b.redis.DB }

// Addr is the backend's host:port.
func (b *Backend) Addr() string { return b.redis.Addr }

// Client returns a go-redis client for administrative work (loading scripts,
// health checks). The caller closes it.
func (b *Backend) Client() *redis.Client { return redis.NewClient(b.redis) }

// conn is one dedicated backend connection.
type conn struct {
	key  connKey
	nc   net.Conn
	r    *bufio.Reader
	kick chan struct{} // wakes a shared connection's writer
	id   int64         // the backend's CLIENT ID for it, once asked (see backendID)
}

// errBackend wraps every failure to talk to the backend so the session can
// answer the client with one clean error.
type errBackend struct{ err error }

func (e errBackend) Error() string { return "backend unavailable: " + e.err.Error() }
func (e errBackend) Unwrap() error { return e.err }

// replyError is an error reply the backend gave during the handshake, such as
// "-ERR DB index is out of range"; it reaches the client unchanged.
type replyError struct{ reply []byte }

func (e replyError) Error() string { return string(e.reply[1 : len(e.reply)-2]) }

// dial opens a connection and brings it to the state key describes.
func (b *Backend) dial(ctx context.Context, key connKey) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.DialTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if b.redis.TLSConfig != nil {
		d := tls.Dialer{NetDialer: &b.dialer, Config: b.redis.TLSConfig}
		nc, err = d.DialContext(ctx, "tcp", b.redis.Addr)
	} else {
		nc, err = b.dialer.DialContext(ctx, "tcp", b.redis.Addr)
	}
	if err != nil {
		return nil, errBackend{err}
	}
	b.open.Add(1)
	nc = &countedConn{Conn: nc, open: &b.open}
	c := &conn{key: key, nc: nc, r: bufio.NewReaderSize(nc, 32<<10)}
	if err := c.handshake(b.redis, key, time.Now().Add(b.opts.DialTimeout)); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *conn) handshake(ro *redis.Options, key connKey, deadline time.Time) error {
	var cmds [][][]byte
	user := ro.Username
	if user == "" {
		user = "default"
	}
	switch {
	case key.proto == 3 && ro.Password != "":
		cmds = append(cmds, [][]byte{[]byte("HELLO"), []byte("3"), []byte("AUTH"), []byte(user), []byte(ro.Password)})
	case key.proto == 3:
		cmds = append(cmds, [][]byte{[]byte("HELLO"), []byte("3")})
	case ro.Password != "":
		cmds = append(cmds, [][]byte{[]byte("AUTH"), []byte(user), []byte(ro.Password)})
	}
	if key.db != 0 {
		cmds = append(cmds, [][]byte{[]byte("SELECT"), []byte(strconv.Itoa(key.db))})
	}
	if len(cmds) == 0 {
		return nil
	}
	var buf []byte
	for _, cmd := range cmds {
		buf = resp.AppendCommand(buf, cmd...)
	}
	c.nc.SetDeadline(deadline)
	defer c.nc.SetDeadline(time.Time{})
	if _, err := c.nc.Write(buf); err != nil {
		return errBackend{err}
	}
	for range cmds {
		reply, err := resp.ReadReply(c.r, nil)
		if err != nil {
			return errBackend{err}
		}
		if resp.IsError(reply) {
			return replyError{reply}
		}
	}
	return nil
}

// take lends a dedicated connection in the given state, reusing an idle one
// when possible.
func (b *Backend) take(ctx context.Context, key connKey) (*conn, error) {
	b.mu.Lock()
	if list := b.idle[key]; len(list) > 0 {
		c := list[len(list)-1]
		b.idle[key] = list[:len(list)-1]
		b.mu.Unlock()
		return c, nil
	}
	b.mu.Unlock()
	return b.dial(ctx, key)
}

// give returns a dedicated connection. Only connections in a clean state
// (no transaction, no WATCH, no subscription, nothing unread) may be given
// back; anything else must be closed by the caller instead.
func (b *Backend) give(c *conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.idle[c.key]) >= b.opts.MaxIdle || c.r.Buffered() > 0 {
		c.nc.Close()
		return
	}
	b.idle[c.key] = append(b.idle[c.key], c)
}

// stallAfter is how long a shared connection may go without a reply while
// it has commands waiting before new batches go to a spill connection. A
// runaway script holds the connection it runs on; on a connection of their
// own, other clients get what Redis gives them (-BUSY once the script
// passes busy-reply-threshold) instead of waiting behind it. Each client
// waits for its batch before sending the next, so moving between
// connections never reorders a client's commands.
const stallAfter = time.Second

// pipeFor returns the shared connection a session uses for ordinary commands.
func (b *Backend) pipeFor(key connKey, session uint64) (*pipe, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errBackend{errors.New("proxy is shutting down")}
	}
	pipes := b.shared[key]
	if pipes == nil {
		pipes = make([]*pipe, b.opts.SharedConns)
		for i := range pipes {
			pipes[i] = newPipe(b, key)
		}
		b.shared[key] = pipes
	}
	p := pipes[session%uint64(len(pipes))]
	if p.stalled(stallAfter) {
		if b.spill[key] == nil {
			b.spill[key] = newPipe(b, key)
		}
		return b.spill[key], nil
	}
	return p, nil
}

// CheckDB reports whether the backend accepts SELECT db, by preparing the
// shared connection for it. The error is Redis's own when it refuses.
func (b *Backend) CheckDB(ctx context.Context, db, proto int) error {
	p, err := b.pipeFor(connKey{db, proto}, 0)
	if err != nil {
		return err
	}
	return p.ensure(ctx)
}

// Close closes every backend connection.
func (b *Backend) Close() {
	b.mu.Lock()
	b.closed = true
	idle, shared := b.idle, b.shared
	for key, p := range b.spill {
		shared[key] = append(shared[key], p)
	}
	b.idle, b.shared, b.spill = map[connKey][]*conn{}, map[connKey][]*pipe{}, map[connKey]*pipe{}
	b.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	for _, list := range shared {
		for _, p := range list {
			p.close()
		}
	}
}

// countedConn keeps Backend.open exact however many places close it.
type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// BackendStats counts the backend connections the proxy holds.
type BackendStats struct {
	Open   int // every connection dialled and not yet closed
	Idle   int // dedicated connections waiting in the pool
	Shared int // shared connections (including spill ones) that are connected
}

// Stats reports the connections held now.
func (b *Backend) Stats() BackendStats {
	b.mu.Lock()
	st := BackendStats{Open: int(b.open.Load())}
	for _, list := range b.idle {
		st.Idle += len(list)
	}
	pipes := []*pipe{}
	for _, list := range b.shared {
		pipes = append(pipes, list...)
	}
	for _, p := range b.spill {
		pipes = append(pipes, p)
	}
	b.mu.Unlock()
	for _, p := range pipes {
		if p.connected() {
			st.Shared++
		}
	}
	return st
}

// fallbackVersion is reported by HELLO when the backend does not say its
// version (or cannot be asked). Clients such as Lettuce parse the field,
// so it must look like a version.
const fallbackVersion = "7.0.0"

// Version is the backend's redis_version, which HELLO reports.
func (b *Backend) Version(ctx context.Context) string {
	if v := b.info(ctx).version; v != "" {
		return v
	}
	return fallbackVersion
}

// IsCluster reports whether the backend runs in cluster mode, where one
// call's keys must share a slot.
func (b *Backend) IsCluster(ctx context.Context) bool { return b.info(ctx).cluster }

type serverInfo struct {
	version string
	cluster bool
}

// info asks the backend once (until it answers) what it is.
func (b *Backend) info(ctx context.Context) serverInfo {
	b.mu.Lock()
	known := b.server
	b.mu.Unlock()
	if known.version != "" {
		return known
	}
	c, err := b.take(ctx, connKey{db: b.DB(), proto: 2})
	if err != nil {
		return known
	}
	reply, err := c.roundTrip([]byte("INFO"), []byte("server"))
	var cluster []byte
	if err == nil {
		cluster, err = c.roundTrip([]byte("INFO"), []byte("cluster"))
	}
	if err == nil && (resp.IsError(reply) || resp.IsError(cluster)) {
		b.give(c)
		return known // busy or loading: ask again next time
	}
	if err != nil {
		c.nc.Close()
		return known
	}
	b.give(c)
	for _, line := range strings.Split(string(reply)+string(cluster), "\r\n") {
		if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
			known.version = v
		}
		if v, ok := strings.CutPrefix(line, "cluster_enabled:"); ok {
			known.cluster = v == "1"
		}
	}
	if known.version == "" {
		known.version = fallbackVersion
	}
	b.mu.Lock()
	b.server = known
	b.mu.Unlock()
	return known
}

// roundTrip sends one command and reads its reply.
func (c *conn) roundTrip(args ...[]byte) ([]byte, error) {
	if _, err := c.nc.Write(resp.AppendCommand(nil, args...)); err != nil {
		return nil, err
	}
	return resp.ReadReply(c.r, nil)
}
