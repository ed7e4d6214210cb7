// Package backend is the Redis behind the proxy: its topology (one server,
// a cluster, or a Sentinel-watched master, behind one small interface), its
// capabilities, the connections to each server (shared, coalescing pipes
// and pooled dedicated ones), routing by slot and redirects, and the facts
// about its commands (COMMAND, COMMAND DOCS). It never imports the client
// side.
package backend

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redverb/redverb/config"
	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/internal/stats"
	"github.com/redverb/redverb/verb"
	"go.uber.org/zap"
)

// BackendOptions configure how the proxy reaches its Redis.
type BackendOptions struct {
	// URL names the backend : one server
	// (redis://, rediss://), a Redis Cluster (redis-cluster://) or a
	// Sentinel-managed master (redis-sentinel://); see config.ParseBackendURL.
	URL string
	// DialTimeout bounds connecting and the handshake. If zero, 2s.
	DialTimeout time.Duration
	// SharedConns is how many multiplexed connections carry ordinary
	// commands for each (database, protocol) pair, per server. If zero, 1:
	// one connection batches best; more help only when one backend
	// connection is the bottleneck (large values).
	SharedConns int
	// MaxIdle is how many dedicated connections (transactions, blocking
	// commands) are kept open for reuse, per server. If zero, 64.
	MaxIdle int
	// ReadFromReplicas sends read-only commands outside transactions to
	// replicas (Cluster and Sentinel backends). If false, masters only.
	ReadFromReplicas bool
	// AuthClients makes AUTH and HELLO ... AUTH check the client's
	// credentials against the backend's users (ACL), and run each client's
	// commands on connections authenticated as that user; a client that
	// has not authenticated runs as the backend's default user, as a
	// direct client would. If false, every connection uses the URL's
	// credentials and clients authenticate to the proxy (requirepass).
	AuthClients bool
	// TLSConfig is used for rediss backends (every server, and Sentinels).
	// If nil, the system's roots, TLS 1.2 or later.
	TLSConfig *tls.Config
	Logger    *zap.Logger
}

// counters are this process's (see package stats).
var counters = stats.Process()

// Backend is the Redis behind the proxy: a topology that says which server
// serves a command, and the connections (a node each) to those servers.
type Backend struct {
	opts   BackendOptions
	url    config.BackendURL
	redis  *redis.Options // credentials, TLS and database, for every server
	topo   topology
	caps   capabilities
	dialer net.Dialer
	log    *zap.Logger
	keys   keyTable
	// options caches the option tokens of commands, by name (native.go).
	options sync.Map

	open atomic.Int64 // connections dialled and not yet closed

	// slots caches the master node of each slot, so routing a command
	// costs one atomic load. An entry is good while its generation is
	// current; redirects and a once-a-second tick start a new generation,
	// after which slots are looked up in the topology again.
	slots [16384]atomic.Uint64 // generation<<16 | index in nodeList+1
	gen   atomic.Uint64
	// nodeList holds every node ever made, in creation order; slots
	// refers to them by index. Copied on append.
	nodeList atomic.Pointer[[]*Node]
	clock    atomic.Int64 // seconds, advanced by pruneLoop; marks nodes in use

	// libraries, if set, gives the verbs' function libraries to load on
	// every shared connection; noFunctions records a backend that has no
	// functions (before Redis 7), where verbs run as scripts.
	libraries    func() []verb.Library
	hasLibraries atomic.Bool
	noFunctions  atomic.Bool
	// monitor notes the commands redverb sends for itself, which MONITOR
	// feeds leave out (monitor.go).
	monitor monitorFilter
	// scripts are the user scripts running on a cluster (busy.go).
	scripts busyScripts
	// slowlogMax is slowlog-max-len, -1 until read from a master
	// (clusterwide.go).
	slowlogMax atomic.Int64
	// pausedUntil is when a CLIENT PAUSE WRITE sent through redverb ends,
	// unix nanoseconds; 0 if none (pause.go).
	pausedUntil atomic.Int64

	mu     sync.Mutex
	inval  *invalidations // if WatchInvalidations was called
	nodes  map[string]*Node
	closed bool
	server serverInfo
	prune  chan struct{} // closed by Close; ends the pruner
}

// NewBackend parses the URL and prepares the topology; it does not connect.
func NewBackend(opts BackendOptions) (*Backend, error) {
	u, err := config.ParseBackendURL(opts.URL)
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
	if u.TLSConfig != nil && opts.TLSConfig != nil {
		u.TLSConfig = opts.TLSConfig.Clone()
	}
	b := &Backend{
		opts:   opts,
		url:    u,
		redis:  &redis.Options{Addr: u.Addrs[0], Username: u.Username, Password: u.Password, DB: u.DB, TLSConfig: u.TLSConfig},
		dialer: net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
		log:    opts.Logger,
		nodes:  make(map[string]*Node),
		prune:  make(chan struct{}),
	}
	b.scripts.thresholdMS.Store(-1)
	b.slowlogMax.Store(-1)
	k, ok := kinds[u.Kind]
	if !ok {
		return nil, fmt.Errorf("no backend of kind %v", u.Kind)
	}
	b.caps = k.caps(opts)
	b.topo = k.topology(b, u)
	if b.caps.redirects { // its servers change: drop the nodes no longer in it
		go b.pruneLoop()
	}
	return b, nil
}

// DB is the database the backend URL selects; clients start there.
func (b *Backend) DB() int { return b.redis.DB }

// Addr describes the backend for logs: its address, or for Cluster and
// Sentinel its kind and seed addresses.
func (b *Backend) Addr() string {
	if !b.caps.redirects {
		return b.url.Addrs[0]
	}
	return b.url.Scheme + "://" + strings.Join(b.url.Addrs, ",")
}

// nodeAt returns the node for a server address, creating it on first use.
func (b *Backend) nodeAt(addr string) (*Node, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBackend{errors.New("proxy is shutting down")}
	}
	n := b.nodes[addr]
	if n == nil {
		n = newNode(b, addr)
		b.nodes[addr] = n
		var list []*Node
		if old := b.nodeList.Load(); old != nil {
			list = append(list, *old...)
		}
		n.index = len(list)
		list = append(list, n)
		b.nodeList.Store(&list)
	}
	n.markUsed(b.clock.Load())
	return n, nil
}

// Master returns the node of the Master serving slot (slot < 0: any).
func (b *Backend) Master(slot int) (*Node, error) {
	slot = max(slot, 0)
	gen := b.gen.Load()
	if e := b.slots[slot].Load(); e>>16 == gen && e&0xffff != 0 {
		if n := (*b.nodeList.Load())[e&0xffff-1]; !n.closed.Load() {
			n.markUsed(b.clock.Load())
			return n, nil
		}
	}
	addr, err := b.topo.master(slot)
	if err != nil {
		return nil, ErrBackend{err}
	}
	n, err := b.nodeAt(addr)
	if err == nil && n.index < 0xffff {
		b.slots[slot].Store(gen<<16 | uint64(n.index+1))
	}
	return n, err
}

// moved passes a redirect (or a sign of a stale map) to the topology and
// starts a new generation of the slot cache.
func (b *Backend) moved(slot int, addr string) {
	b.topo.moved(slot, addr)
	b.gen.Add(1)
	b.trackersChanged()
}

// replica returns a node serving reads for slot: a replica if the backend
// is set to read from them, else the master.
func (b *Backend) replica(slot int) (*Node, error) {
	if !b.opts.ReadFromReplicas {
		return b.Master(slot)
	}
	addr, err := b.topo.replica(slot)
	if err != nil {
		return nil, ErrBackend{err}
	}
	return b.nodeAt(addr)
}

// Masters returns a node for every master.
func (b *Backend) Masters() ([]*Node, error) { return b.nodesOf(b.topo.masters) }

// Servers returns the node of every master and replica.
func (b *Backend) Servers() ([]*Node, error) { return b.nodesOf(b.topo.servers) }

func (b *Backend) nodesOf(list func() ([]string, error)) ([]*Node, error) {
	addrs, err := list()
	if err != nil {
		return nil, ErrBackend{err}
	}
	nodes := make([]*Node, len(addrs))
	for i, addr := range addrs {
		if nodes[i], err = b.nodeAt(addr); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// Take lends a dedicated connection on the master serving slot.
func (b *Backend) Take(ctx context.Context, key ConnKey, slot int) (*Conn, error) {
	n, err := b.Master(slot)
	if err != nil {
		return nil, err
	}
	return n.Take(ctx, key)
}

// Prepare reports whether the backend accepts the state key describes (a
// database for SELECT, a user's credentials for AUTH), by preparing a
// shared connection in it. The error is Redis's own when it refuses.
func (b *Backend) Prepare(ctx context.Context, key ConnKey) error {
	n, err := b.Master(-1)
	if err != nil {
		return err
	}
	p, err := n.pipeFor(key, 0)
	if err != nil {
		return err
	}
	return p.ensure(ctx)
}

// unusedFor is how long (in seconds of Backend.clock) a server the
// topology no longer routes to keeps its connections (a demoted master, a
// node removed from the cluster).
const unusedFor = 5

// pruneLoop closes the connections of servers nothing has used for a while
// and that are no longer masters.
func (b *Backend) pruneLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-b.prune:
			return
		case <-tick.C:
		}
		clock := b.clock.Add(1)
		b.gen.Add(1) // pick up topology changes go-redis found by itself
		masters, err := b.topo.masters()
		if err != nil {
			continue
		}
		b.mu.Lock()
		var stale []*Node
		for addr, n := range b.nodes {
			if clock-n.used.Load() > unusedFor && !slices.Contains(masters, addr) {
				stale = append(stale, n)
				delete(b.nodes, addr)
			}
		}
		b.mu.Unlock()
		for _, n := range stale {
			b.log.Info("closing connections to a server no longer in the topology", zap.String("node", n.addr))
			n.close()
		}
	}
}

// Close closes every backend connection.
func (b *Backend) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.inval.close()
	nodes := b.nodes
	b.nodes = map[string]*Node{}
	close(b.prune)
	b.mu.Unlock()
	for _, n := range nodes {
		n.close()
	}
	b.topo.close()
}

// countedConn keeps Backend.open exact however many places close it.
type countedConn struct {
	net.Conn
	open    *atomic.Int64
	once    sync.Once
	onClose func() // if set, runs once, after the count
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.open.Add(-1)
		if c.onClose != nil {
			c.onClose()
		}
	})
	return c.Conn.Close()
}

// BackendStats counts the backend connections the proxy holds.
type BackendStats struct {
	Open   int // every connection dialled and not yet closed
	Idle   int // dedicated connections waiting in the pools
	Shared int // shared connections (including spill ones) that are connected
}

// Stats reports the connections held now.
func (b *Backend) Stats() BackendStats {
	b.mu.Lock()
	nodes := make([]*Node, 0, len(b.nodes))
	for _, n := range b.nodes {
		nodes = append(nodes, n)
	}
	b.mu.Unlock()
	st := BackendStats{Open: int(b.open.Load())}
	for _, n := range nodes {
		n.stats(&st)
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

// capabilities are what the backend's kind means to the rest of redverb,
// decided once when the backend is made: nothing else looks at the kind.
// Each kind is a row of kinds (kinds.go).
type capabilities struct {
	kind string // as INFO names it: standalone, cluster, sentinel
	// severalServers: several masters that a client must see as one; a
	// client's whole-database commands and keyless scripts reach each.
	severalServers bool
	// redirects: a server may answer MOVED or ASK (a cluster, or a
	// Sentinel master that changed), which the backend follows.
	redirects bool
	// routesByKey: a command goes where its first key's slot is served
	// (a cluster, or Sentinel reading from replicas).
	routesByKey bool
}

// SeveralServers reports whether the backend is several masters a client
// must see as one (a cluster).
func (b *Backend) SeveralServers() bool { return b.caps.severalServers }

// Redirects reports whether a server may answer MOVED or ASK.
func (b *Backend) Redirects() bool { return b.caps.redirects }

// AuthClients reports whether each client's own AUTH reaches the backend
// (--auth backend): connections are opened per user.
func (b *Backend) AuthClients() bool { return b.opts.AuthClients }

// StartMonitorFeed starts a MONITOR feed, which leaves out the commands
// redverb sends for itself.
func (b *Backend) StartMonitorFeed() *MonitorFeed { return b.monitor.startFeed() }

// Kind names the backend's kind: standalone, cluster or sentinel.
func (b *Backend) Kind() string { return b.caps.kind }

// KeysMustShareSlot reports whether one call's keys must share a slot: a
// cluster, or a redis:// URL that names a cluster node.
func (b *Backend) KeysMustShareSlot(ctx context.Context) bool {
	return b.caps.severalServers || b.info(ctx).cluster
}

type serverInfo struct {
	version string
	cluster bool
}

// info asks a master once (until it answers) what it is.
func (b *Backend) info(ctx context.Context) serverInfo {
	b.mu.Lock()
	known := b.server
	b.mu.Unlock()
	if known.version != "" {
		return known
	}
	c, err := b.Take(ctx, ConnKey{DB: b.DB(), Proto: 2}, -1)
	if err != nil {
		return known
	}
	reply, err := c.RoundTrip([]byte("INFO"), []byte("server"))
	var cluster []byte
	if err == nil {
		cluster, err = c.RoundTrip([]byte("INFO"), []byte("cluster"))
	}
	if err == nil && (resp.IsError(reply) || resp.IsError(cluster)) {
		c.Give()
		return known // busy or loading: ask again next time
	}
	if err != nil {
		c.nc.Close()
		return known
	}
	c.Give()
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

// Ping reports whether the backend serves commands: every master answers
// PING within timeout (and not -LOADING or an authentication error).
func (b *Backend) Ping(timeout time.Duration) error {
	masters, err := b.Masters()
	if err != nil {
		return err
	}
	for _, n := range masters {
		c, err := n.Take(context.Background(), ConnKey{DB: 0, Proto: 2})
		if err != nil {
			return err
		}
		c.nc.SetDeadline(time.Now().Add(timeout))
		reply, err := c.RoundTrip([]byte("PING"))
		c.nc.SetDeadline(time.Time{})
		if err != nil {
			c.nc.Close()
			return ErrBackend{err}
		}
		c.Give()
		if string(reply) != "+PONG\r\n" {
			return fmt.Errorf("%s answers PING with %q", n.addr, strings.TrimSpace(string(reply)))
		}
	}
	return nil
}

// CheckCredentials dials a connection with key's credentials: the error is
// the backend's own refusal (-WRONGPASS ...). A connection that passed is
// pooled for the client's later dedicated use; nothing is kept for one
// that failed, however many passwords a client tries.
func (b *Backend) CheckCredentials(key ConnKey) error {
	n, err := b.Master(-1)
	if err != nil {
		return err
	}
	c, err := n.Dial(context.Background(), key)
	if err != nil {
		return err
	}
	c.Give()
	return nil
}

// SetLibraries makes the backend load the verbs' function libraries on each
// shared connection it opens (see verbcall.go).
func (b *Backend) SetLibraries(libraries func() []verb.Library) {
	b.mu.Lock()
	b.libraries = libraries
	b.mu.Unlock()
	b.hasLibraries.Store(libraries != nil)
}

// Functions reports whether verbs run as Functions on this backend.
func (b *Backend) Functions() bool {
	return b.hasLibraries.Load() && !b.noFunctions.Load()
}

// loadLibraries loads every verb's library on a new shared connection,
// before any command uses it. A library that is there already is kept; a
// backend without functions is remembered, and verbs run as scripts there.
func (b *Backend) loadLibraries(c *Conn) error {
	b.mu.Lock()
	libraries := b.libraries
	b.mu.Unlock()
	if libraries == nil || b.noFunctions.Load() {
		return nil
	}
	var loads [][]byte
	for _, l := range libraries() {
		loads = append(loads, resp.AppendCommand(nil, []byte("FUNCTION"), []byte("LOAD"), []byte(l.Code)))
	}
	replies, err := c.Pipeline(loads, time.Now().Add(b.opts.DialTimeout))
	if err != nil {
		return err
	}
	for _, reply := range replies {
		if resp.IsError(reply) && !bytes.Contains(reply, []byte("already exists")) {
			// No functions here (before Redis 7), or not for redverb's
			// user (ACL): verbs run as scripts.
			b.noFunctions.Store(true)
		}
	}
	return nil
}
