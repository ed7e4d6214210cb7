package backend

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/internal/resp"
)

// Node owns the connections to one Redis server: a few shared connections
// that multiplex the ordinary commands of all clients, and a pool of
// dedicated ones lent to a single client for transactions, blocking
// commands and pub/sub. A standalone backend has one Node; a cluster has
// one per server the proxy has talked to.
type Node struct {
	b     *Backend
	addr  string
	index int          // in Backend.nodeList
	used  atomic.Int64 // Backend.clock when last routed to (see Backend.pruneLoop)

	closed atomic.Bool

	mu     sync.Mutex
	shared map[ConnKey][]*pipe
	spill  map[ConnKey]*pipe // takes new batches while a shared connection is stalled (see pipeFor)
	idle   map[ConnKey][]*Conn
	// lent are the dedicated connections clients hold (transactions,
	// blocking commands, pub/sub, tracking): closing the node closes them
	// too, so that clients of a server that left the topology (a demoted
	// master) get an error instead of staying on it.
	lent map[*Conn]struct{}
}

func (n *Node) markUsed(clock int64) {
	if n.used.Load() != clock {
		n.used.Store(clock)
	}
}

func newNode(b *Backend, addr string) *Node {
	return &Node{
		b:      b,
		addr:   addr,
		shared: make(map[ConnKey][]*pipe),
		spill:  make(map[ConnKey]*pipe),
		idle:   make(map[ConnKey][]*Conn),
		lent:   make(map[*Conn]struct{}),
	}
}

// ConnKey names the connection state a client needs: its selected
// database, its protocol version, and whose identity the connection has on
// the backend: the proxy's own (the backend URL's credentials), or with
// asClient (--auth backend) the client's, user and pass as it gave them to
// AUTH (none yet: the backend URL's, the backend's default user when the
// URL has none).
type ConnKey struct {
	DB       int
	Proto    int
	AsClient bool
	User     string
	Pass     string
}

// Conn is one dedicated backend connection.
type Conn struct {
	Node    *Node
	Key     ConnKey
	nc      net.Conn
	r       *bufio.Reader
	kick    chan struct{} // wakes a shared connection's writer
	ID      int64         // the backend's CLIENT ID for it, once asked (see backendID)
	counted *countedConn  // nc, for its close hook
	// Tracker, if set, owns reading the connection (a CLIENT TRACKING
	// client's, which receives pushes at any time); ReadReply takes
	// frames from it.
	Tracker frameReader
}

// ErrBackend wraps every failure to talk to the backend so the session can
// answer the client with one clean error.
type ErrBackend struct{ Err error }

func (e ErrBackend) Error() string { return "backend unavailable: " + e.Err.Error() }
func (e ErrBackend) Unwrap() error { return e.Err }

// ReplyError is an error reply the backend gave during the handshake, such as
// "-ERR DB index is out of range"; it reaches the client unchanged.
type ReplyError struct{ Reply []byte }

func (e ReplyError) Error() string { return string(e.Reply[1 : len(e.Reply)-2]) }

// Dial opens a connection and brings it to the state key describes.
func (n *Node) Dial(ctx context.Context, key ConnKey) (*Conn, error) {
	b := n.b
	ctx, cancel := context.WithTimeout(ctx, b.opts.DialTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if b.redis.TLSConfig != nil {
		d := tls.Dialer{NetDialer: &b.dialer, Config: b.redis.TLSConfig}
		nc, err = d.DialContext(ctx, "tcp", n.addr)
	} else {
		nc, err = b.dialer.DialContext(ctx, "tcp", n.addr)
	}
	counters.Dials.Add(1)
	if err != nil {
		counters.DialFailures.Add(1)
		return nil, ErrBackend{err}
	}
	b.open.Add(1)
	cc := &countedConn{Conn: nc, open: &b.open}
	c := &Conn{Node: n, Key: key, nc: cc, r: bufio.NewReaderSize(cc, 32<<10), counted: cc}
	nc = cc
	// A cluster replica serves reads only after READONLY; on a master the
	// command is harmless, and a replica may be promoted at any time.
	readonly := b.SeveralServers() && b.opts.ReadFromReplicas
	deadline := time.Now().Add(b.opts.DialTimeout)
	user, pass := b.redis.Username, b.redis.Password
	if key.AsClient && (key.User != "" || key.Pass != "") {
		// A client that selected a database and then authenticated as a
		// user who may not SELECT is in that database on Redis (AUTH keeps
		// it): select it first as the URL's user, then switch to the
		// client's. If that SELECT is refused, the client's user selects.
		if key.DB != 0 && c.selectAs(b.redis.Username, b.redis.Password, key.DB, deadline) {
			key.DB = 0
		}
		user, pass = key.User, key.Pass
	}
	if err := c.handshake(user, pass, readonly, key, deadline); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// selectAs selects db on a new connection as the URL's user, and reports
// whether it could.
func (c *Conn) selectAs(user, password string, db int, deadline time.Time) bool {
	var raws [][]byte
	if password != "" {
		if user == "" {
			user = "default"
		}
		raws = append(raws, resp.AppendCommand(nil, []byte("AUTH"), []byte(user), []byte(password)))
	}
	raws = append(raws, resp.AppendCommand(nil, []byte("SELECT"), []byte(strconv.Itoa(db))))
	replies, err := c.Pipeline(raws, deadline)
	return err == nil && !resp.IsError(replies[len(replies)-1])
}

func (c *Conn) handshake(user, password string, readonly bool, key ConnKey, deadline time.Time) error {
	var cmds [][][]byte
	// A client's one-argument AUTH is sent as it was, so the backend
	// answers it as it answers that form (the default user, or the
	// requirepass error when there is none).
	oneArg := key.AsClient && user == "" && password != ""
	if user == "" {
		user = "default"
	}
	if password != "" {
		auth := [][]byte{[]byte("AUTH"), []byte(user), []byte(password)}
		if oneArg {
			auth = [][]byte{[]byte("AUTH"), []byte(password)}
		}
		cmds = append(cmds, auth)
	}
	if key.Proto == 3 {
		cmds = append(cmds, [][]byte{[]byte("HELLO"), []byte("3")})
	}
	if key.DB != 0 {
		cmds = append(cmds, [][]byte{[]byte("SELECT"), []byte(strconv.Itoa(key.DB))})
	}
	if readonly {
		cmds = append(cmds, [][]byte{[]byte("READONLY")})
	}
	if len(cmds) == 0 {
		return nil
	}
	raws := make([][]byte, len(cmds))
	for i, cmd := range cmds {
		raws[i] = resp.AppendCommand(nil, cmd...)
	}
	replies, err := c.Pipeline(raws, deadline)
	if err != nil {
		return err
	}
	for _, reply := range replies {
		if resp.IsError(reply) {
			return ReplyError{reply}
		}
	}
	return nil
}

// Pipeline writes raws, redverb's own commands, in one write and reads one
// reply each; a zero deadline is none.
func (c *Conn) Pipeline(raws [][]byte, deadline time.Time) ([][]byte, error) {
	c.NoteOwn(raws...)
	var buf []byte
	for _, r := range raws {
		buf = append(buf, r...)
	}
	if !deadline.IsZero() {
		c.nc.SetDeadline(deadline)
		defer c.nc.SetDeadline(time.Time{})
	}
	if err := c.Write(buf); err != nil {
		return nil, ErrBackend{err}
	}
	replies := make([][]byte, len(raws))
	for i := range raws {
		var err error
		if replies[i], err = resp.ReadReply(c.r, nil); err != nil {
			return nil, ErrBackend{err}
		}
	}
	return replies, nil
}

// Take lends a dedicated connection in the given state, reusing an idle one
// when possible.
func (n *Node) Take(ctx context.Context, key ConnKey) (*Conn, error) {
	n.mu.Lock()
	if list := n.idle[key]; len(list) > 0 {
		c := list[len(list)-1]
		n.idle[key] = list[:len(list)-1]
		n.lent[c] = struct{}{}
		n.mu.Unlock()
		return c, nil
	}
	n.mu.Unlock()
	c, err := n.Dial(ctx, key)
	if err != nil {
		return nil, err
	}
	// Only lent connections report their close: a shared one may be
	// closed with its pipe's lock held, which must not wait for n.mu.
	c.counted.onClose = func() { n.forget(c) }
	n.mu.Lock()
	n.lent[c] = struct{}{}
	closed := n.closed.Load()
	n.mu.Unlock()
	if closed {
		c.nc.Close()
	}
	return c, nil
}

// forget drops a closed connection from the lent ones.
func (n *Node) forget(c *Conn) {
	n.mu.Lock()
	delete(n.lent, c)
	n.mu.Unlock()
}

// give returns a dedicated connection. Only connections in a clean state
// (no transaction, no WATCH, no subscription, nothing unread) may be given
// back; anything else must be closed by the caller instead.
func (n *Node) give(c *Conn) {
	n.mu.Lock()
	if n.closed.Load() || len(n.idle[c.Key]) >= n.b.opts.MaxIdle || c.r.Buffered() > 0 {
		n.mu.Unlock()
		c.nc.Close()
		return
	}
	delete(n.lent, c)
	n.idle[c.Key] = append(n.idle[c.Key], c)
	n.mu.Unlock()
}

// dropIdle closes the idle connections.
func (n *Node) dropIdle() {
	n.mu.Lock()
	idle := n.idle
	n.idle = make(map[ConnKey][]*Conn)
	n.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
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
func (n *Node) pipeFor(key ConnKey, session uint64) (*pipe, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		return nil, ErrBackend{errors.New("proxy is shutting down")}
	}
	pipes := n.shared[key]
	if pipes == nil {
		pipes = make([]*pipe, n.b.opts.SharedConns)
		for i := range pipes {
			pipes[i] = newPipe(n, key)
		}
		n.shared[key] = pipes
	}
	p := pipes[session%uint64(len(pipes))]
	if p.stalled(stallAfter) {
		if n.spill[key] == nil {
			n.spill[key] = newPipe(n, key)
		}
		return n.spill[key], nil
	}
	return p, nil
}

// close closes every connection of the node.
func (n *Node) close() {
	n.mu.Lock()
	n.closed.Store(true)
	idle, shared := n.idle, n.shared
	for key, p := range n.spill {
		shared[key] = append(shared[key], p)
	}
	var lent []*Conn
	for c := range n.lent {
		lent = append(lent, c)
	}
	n.idle, n.shared, n.spill = map[ConnKey][]*Conn{}, map[ConnKey][]*pipe{}, map[ConnKey]*pipe{}
	n.mu.Unlock()
	for _, c := range lent {
		c.nc.Close()
	}
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

// stats adds the node's connections to st.
func (n *Node) stats(st *BackendStats) {
	n.mu.Lock()
	for _, list := range n.idle {
		st.Idle += len(list)
	}
	pipes := []*pipe{}
	for _, list := range n.shared {
		pipes = append(pipes, list...)
	}
	for _, p := range n.spill {
		pipes = append(pipes, p)
	}
	n.mu.Unlock()
	for _, p := range pipes {
		if p.connected() {
			st.Shared++
		}
	}
}

// RoundTrip sends one command and reads its reply.
func (c *Conn) RoundTrip(args ...[]byte) ([]byte, error) {
	raw := resp.AppendCommand(nil, args...)
	c.NoteOwn(raw)
	return c.send(raw)
}

// send writes a client's command and reads its reply; MONITOR shows it.
func (c *Conn) send(raw []byte) ([]byte, error) {
	if err := c.Write(raw); err != nil {
		return nil, err
	}
	return resp.ReadReply(c.r, nil)
}

// Write sends raw, whole commands, in one write. Every command sent on a
// connection of its own (held by a client, pooled, out of band) goes
// through here; the shared pipes have their one writer (pipe.go).
func (c *Conn) Write(raw []byte) error {
	_, err := c.nc.Write(raw)
	return err
}

// Close closes the connection; a pooled one is forgotten by its node.
func (c *Conn) Close() error { return c.nc.Close() }

// ReadFrame reads the next frame as it comes, a push or a reply, into dst:
// for a connection whose frames the caller sorts itself (a subscription).
func (c *Conn) ReadFrame(dst []byte) ([]byte, error) { return resp.ReadReply(c.r, dst) }

// SetReadDeadline bounds the reads in progress and to come; zero: none.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// RepliesWithin reports whether a reply starts arriving within d. Redis
// writes a script's reply only once the script has ended, so the rest of
// the reply follows at once. Nothing is consumed: a late reply is read
// later as usual.
func (c *Conn) RepliesWithin(d time.Duration) bool {
	c.nc.SetReadDeadline(time.Now().Add(d))
	_, err := c.r.Peek(1)
	c.nc.SetReadDeadline(time.Time{})
	return err == nil
}

// Give returns the connection to its node's pool.
func (c *Conn) Give() { c.Node.give(c) }
