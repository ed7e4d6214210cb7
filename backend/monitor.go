package backend

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redverb/redverb/internal/resp"
)

// MONITOR shows the commands the backend receives, and redverb sends some
// of its own: a new connection's HELLO, AUTH and SELECT, CLIENT ID, the
// verbs' FUNCTION LOAD, health checks. A client monitoring Redis through
// redverb must see its clients' commands only, so redverb notes each
// command it sends for itself (connection and command), and a MONITOR feed
// drops the line that matches a note made since the feed started, once.

// hiddenLine is one of redverb's own commands, as MONITOR would print it
// after the address: `"HELLO" "3"`.
type hiddenLine struct {
	id   uint64
	addr string
	line []byte
	at   time.Time
}

// monitorFilter holds the notes of redverb's own commands.
type monitorFilter struct {
	mu     sync.Mutex
	lines  []hiddenLine // oldest first
	nextID uint64
	feeds  int // MONITOR feeds running: with none, nothing is noted
	// topology holds the local addresses of the connections go-redis
	// opens to read a cluster's topology (CLUSTER SLOTS): all redverb's.
	topology sync.Map
}

// hiddenFor is how long a note is kept: a feed is read well within it.
const hiddenFor = 30 * time.Second

// note records a command redverb sends for itself on the connection from
// addr (raw as sent).
func (f *monitorFilter) note(addr string, raw []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.feeds == 0 {
		return
	}
	now := time.Now()
	for len(f.lines) > 0 && now.Sub(f.lines[0].at) > hiddenFor {
		f.lines = f.lines[1:]
	}
	f.nextID++
	f.lines = append(f.lines, hiddenLine{id: f.nextID, addr: addr, line: monitorRepr(raw), at: now})
}

// monitorRepr is a command as MONITOR prints its arguments; AUTH's are
// redacted, as Redis redacts them.
func monitorRepr(raw []byte) []byte {
	var out []byte
	for i, a := range resp.SplitArray(raw) {
		arg, _ := resp.BulkValue(a)
		if i > 0 {
			out = append(out, ' ')
			if bytes.EqualFold(out[:min(len(out), 6)], []byte(`"AUTH"`)) {
				out = append(out, `"(redacted)"`...)
				continue
			}
		}
		out = strconv.AppendQuote(out, string(arg))
	}
	return out
}

// MonitorFeed is one MONITOR client's view of the notes.
type MonitorFeed struct {
	f     *monitorFilter
	since time.Time
	used  map[uint64]bool
}

func (f *monitorFilter) startFeed() *MonitorFeed {
	f.mu.Lock()
	f.feeds++
	f.mu.Unlock()
	return &MonitorFeed{f: f, since: time.Now(), used: map[uint64]bool{}}
}

func (mf *MonitorFeed) Stop() {
	mf.f.mu.Lock()
	mf.f.feeds--
	mf.f.mu.Unlock()
}

// Hides reports whether a MONITOR line (a simple string, `+<time> [<db>
// <addr>] "CMD" ...`) is one of redverb's own commands.
func (mf *MonitorFeed) Hides(frame []byte) bool {
	open, end := bytes.IndexByte(frame, '['), bytes.Index(frame, []byte("] "))
	if open < 0 || end < open {
		return false
	}
	rest := bytes.TrimRight(frame[end+2:], "\r\n")
	if bytes.HasPrefix(rest, []byte(`"FUNCTION" "LOAD" "#!lua name=rv_`)) {
		return true // a verb's library, loaded on each new connection
	}
	addr := frame[open+1 : end]
	if sp := bytes.IndexByte(addr, ' '); sp >= 0 {
		addr = addr[sp+1:]
	}
	f := mf.f
	if f.isTopology(addr) {
		return true // go-redis reading the cluster's topology for redverb
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.lines {
		if l.at.Before(mf.since) || mf.used[l.id] || l.addr != string(addr) || !bytes.Equal(l.line, rest) {
			continue
		}
		mf.used[l.id] = true
		if len(mf.used) > 4096 {
			mf.forgetOld()
		}
		return true
	}
	return false
}

// forgetOld drops used notes that are no longer kept.
func (mf *MonitorFeed) forgetOld() {
	if len(mf.f.lines) == 0 {
		clear(mf.used)
		return
	}
	oldest := mf.f.lines[0].id
	for id := range mf.used {
		if id < oldest {
			delete(mf.used, id)
		}
	}
}

// NoteOwn records commands redverb sends on c for itself.
func (c *Conn) NoteOwn(raws ...[]byte) {
	f := &c.Node.b.monitor
	addr := c.nc.LocalAddr().String()
	for _, raw := range raws {
		f.note(addr, raw)
	}
}

// topologyDialer dials go-redis's connections (a cluster's topology) as
// go-redis would, and notes their local addresses, whose commands MONITOR
// and SLOWLOG leave out.
func (b *Backend) topologyDialer(tlsConfig *tls.Config, timeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	dial := redis.NewDialer(&redis.Options{TLSConfig: tlsConfig, DialTimeout: timeout})
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err == nil {
			b.monitor.topology.Store(nc.LocalAddr().String(), struct{}{})
		}
		return nc, err
	}
}

// OwnClient reports whether a client address is one of go-redis's
// topology connections.
func (b *Backend) OwnClient(addr []byte) bool { return b.monitor.isTopology(addr) }

func (f *monitorFilter) isTopology(addr []byte) bool {
	_, own := f.topology.Load(string(addr))
	return own
}
