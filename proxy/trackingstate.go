package proxy

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/resp"
	"go.uber.org/zap"
)

// trackingState is a client's CLIENT TRACKING state: the connections
// tracking is on (one per master; the session's dedicated connection is one
// of them), the options to turn it on on another master's, and a pending
// CLIENT CACHING.
type trackingState struct {
	s       *Session
	enabled bool
	// redirect is the redverb client the invalidations go to, 0 for none.
	redirect int64
	// conns are the connections tracking is on, one per master: each
	// master tracks the keys read there.
	conns []*backend.Conn
	// args is the client's CLIENT TRACKING for a master's connection.
	args    func(*backend.Node) ([][]byte, error)
	caching *pendingCaching // CLIENT CACHING, for the next command
}

// start makes a tracker the reader of c, a connection CLIENT
// TRACKING is (being turned) on for the session, until the session's
// next replies are written (begin).
func (t *trackingState) start(c *backend.Conn) {
	tr := &tracker{s: t.s, c: c, ready: make(chan struct{}, 1), done: make(chan struct{})}
	c.Tracker = tr
	tr.begin()
	go tr.watch()
	t.conns = append(t.conns, c)
}

// wholeServer reports whether a tracking client's command is
// one about the whole server (INFO, DBSIZE, KEYS, ...) that runs on every
// master as for any client, not on the tracked connection at hand. A
// command split by slot stays there (and gets -CROSSSLOT): its reads would
// not be tracked.
func (t *trackingState) wholeServer(c *command) bool {
	return c.kind == kindClusterWide && t.enabled && !t.s.tx.inMulti && !t.s.tx.watching && c.spec.wide.split == nil
}

// connOn returns the session's tracking connection on n, starting one
// with the client's CLIENT TRACKING options if there is none.
func (t *trackingState) connOn(n *backend.Node) (*backend.Conn, error) {
	for _, c := range t.conns {
		if c.Node == n {
			return c, nil
		}
	}
	fwd, err := t.argsFor(n)
	if err != nil {
		return nil, err
	}
	c, err := n.Take(context.Background(), t.s.ded.Key)
	if err != nil {
		return nil, err
	}
	c.BackendID()
	reply, err := c.RoundTrip(fwd...)
	if err == nil && !bytes.Equal(reply, []byte("+OK\r\n")) {
		err = backend.ReplyError{Reply: reply}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	t.start(c)
	return c, nil
}

// argsFor is the client's CLIENT TRACKING for n, while it is being
// turned on (t.args is set once it is on).
func (t *trackingState) argsFor(n *backend.Node) ([][]byte, error) {
	if t.args == nil {
		return nil, errors.New("CLIENT TRACKING is not on")
	}
	return t.args(n)
}

// command runs a command of the client's on another tracked
// connection c, whose reply is redverb's to check: pushes that came before
// it go to the client, an error reply replaces the client's reply (from
// start). It reports whether the reply was +OK.
func (t *trackingState) command(c *backend.Conn, args [][]byte, start int) bool {
	reply, err := t.own(c, resp.AppendCommand(nil, args...))
	switch {
	case err != nil:
		t.s.out = appendBackendError(t.s.out[:start], err)
	case !bytes.Equal(reply, []byte("+OK\r\n")):
		t.s.out = append(t.s.out[:start], reply...)
	default:
		return true
	}
	return false
}

// own sends raw on a tracked connection and returns its reply; the
// pushes read before it are the client's, appended to t.s.out.
func (t *trackingState) own(c *backend.Conn, raw []byte) ([]byte, error) {
	c.NoteOwn(raw)
	if err := c.Write(raw); err != nil {
		return nil, backend.ErrBackend{Err: err}
	}
	for {
		f, err := c.Tracker.Next()
		if err != nil {
			return nil, backend.ErrBackend{Err: err}
		}
		if f[0] != '>' {
			return f, nil
		}
		t.s.out = append(t.s.out, f...)
	}
}

// close stops tracking on every connection it is on (they close), and
// forgets it was on.
func (t *trackingState) close() {
	for _, c := range t.conns {
		if c != t.s.ded {
			trackerOf(c).stop()
		}
	}
	if t.s.ded != nil && t.s.ded.Tracker != nil {
		trackerOf(t.s.ded).stop()
	}
	t.conns, t.args, t.caching = nil, nil, nil
	t.enabled, t.redirect = false, 0
}

// placeCaching makes a pending CLIENT CACHING apply where the next
// command runs: if that is another master's connection, it is sent there
// too, and c's flag is spent on a PING (any command ends it).
func (t *trackingState) placeCaching() {
	pc := t.caching
	t.caching = nil
	if pc == nil || pc.c == t.s.ded || !slices.Contains(t.conns, pc.c) {
		return
	}
	_, err := t.own(pc.c, resp.AppendCommand(nil, []byte("PING")))
	if err == nil {
		_, err = t.own(t.s.ded, pc.raw)
	}
	if err != nil {
		t.s.srv.log.Debug("CLIENT CACHING not moved", zap.Uint64("client", t.s.id), zap.Error(err))
	}
}
