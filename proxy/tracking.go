package proxy

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/resp"
)

// Client-side caching (CLIENT TRACKING). The backend tracks the keys a
// connection reads, so a tracking client gets a backend connection of its
// own for all its commands, as it costs one connection against Redis. In
// RESP3 the backend sends invalidations on that connection at any time, also
// while the client is idle; so one goroutine (watch) reads the connection
// from then on, and hands the session its replies, and the pushes in their
// place among them. While the client is idle, pushes go straight to it;
// while it runs commands, they wait behind the replies read before them, so
// a client never gets an invalidation ahead of an older reply for the same
// key. In RESP2, invalidations go where REDIRECT says: to another client of
// redverb subscribed to __redis__:invalidate, whose own backend connection
// receives them.

// tracker is the reader of a tracking client's dedicated connection.
type tracker struct {
	s *Session
	c *backend.Conn

	mu       sync.Mutex
	active   bool     // the session is running commands: pushes queue
	stopping bool     // the session closes the connection itself
	queue    [][]byte // frames read, for the session
	ready    chan struct{}
	failed   error
	done     chan struct{}
}

// trackerOf is the tracker reading c, nil if none.
func trackerOf(c *backend.Conn) *tracker {
	tr, _ := c.Tracker.(*tracker)
	return tr
}

func (tr *tracker) watch() {
	defer close(tr.done)
	for {
		frame, err := tr.c.ReadFrame(nil)
		tr.mu.Lock()
		switch {
		case err != nil:
			tr.failed = err
			idle := !tr.active && !tr.stopping
			tr.mu.Unlock()
			notify(tr.ready)
			if idle {
				// Invalidations may have been lost: the client must drop
				// its cache, as it does when its connection drops.
				tr.s.nc.Close()
			}
			return
		case tr.active || frame[0] != '>':
			tr.queue = append(tr.queue, frame)
			tr.mu.Unlock()
			notify(tr.ready)
		default:
			n, _ := tr.s.nc.Write(frame) // the session is not writing: it is idle
			counters.BytesOut.Add(int64(n))
			tr.mu.Unlock()
		}
	}
}

// Next returns the Next frame the connection gave, waiting for one.
func (tr *tracker) Next() ([]byte, error) {
	for {
		tr.mu.Lock()
		if len(tr.queue) > 0 {
			f := tr.queue[0]
			tr.queue = tr.queue[1:]
			tr.mu.Unlock()
			return f, nil
		}
		err := tr.failed
		tr.mu.Unlock()
		if err != nil {
			return nil, err
		}
		<-tr.ready
	}
}

// stop closes the connection and waits for the reader to end, without
// taking the close for a lost connection.
func (tr *tracker) stop() {
	tr.mu.Lock()
	tr.stopping = true
	tr.mu.Unlock()
	tr.c.Close()
	<-tr.done
}

// begin marks the session running commands; end writes the pushes that
// came after the replies just flushed, and marks it idle.
func (tr *tracker) begin() {
	tr.mu.Lock()
	tr.active = true
	tr.mu.Unlock()
}

func (tr *tracker) end() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var pushes []byte
	for _, f := range tr.queue {
		pushes = append(pushes, f...) // only pushes are left: every reply was taken
	}
	tr.queue = nil
	if len(pushes) > 0 {
		n, _ := tr.s.nc.Write(pushes)
		counters.BytesOut.Add(int64(n))
	}
	tr.active = false
}

// clientTracking answers CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]
// [BCAST] [OPTIN] [OPTOUT] [NOLOOP]: the backend checks the options on the
// client's own connection; REDIRECT names a redverb client, whose backend
// connection on that master the backend is told about. Each master tracks
// the keys read on it, so tracking is turned on on a connection to every
// master (one on standalone and Sentinel), and each command of the client
// runs on the one where its key lives.
func clientTracking(s *Session, args [][]byte) {
	if len(args) < 3 {
		s.arityError("client|tracking")
		return
	}
	args = cloneArgs(args) // kept in s.track.args, past the input buffer's reuse
	on := strings.EqualFold(string(args[2]), "on")
	var target *Session
	redirect, at := int64(0), 0
	for i := 3; i+1 < len(args); i++ {
		if !strings.EqualFold(string(args[i]), "redirect") {
			continue
		}
		id, err := strconv.ParseInt(string(args[i+1]), 10, 64)
		if err != nil {
			s.out = resp.AppendError(s.out, "ERR value is not an integer or out of range")
			return
		}
		if target = s.srv.session(uint64(id)); target == nil {
			s.out = resp.AppendError(s.out, errNoRedirect)
			return
		}
		redirect, at = id, i+1
	}
	// argsOn is the command for the connection on n: the redirect names
	// the target's connection there.
	argsOn := func(n *backend.Node) ([][]byte, error) {
		if target == nil {
			return args, nil
		}
		id, err := target.redirectID(n)
		fwd := append([][]byte(nil), args...)
		fwd[at] = strconv.AppendInt(nil, id, 10)
		return fwd, err
	}
	if !s.track.enabled && !on {
		s.forward(args...) // OFF, or a bad call, with nothing to turn off
		return
	}
	if !s.track.enabled && !s.ensureDedicated(backend.NoSlot) {
		return
	}
	fwd, err := argsOn(s.ded.Node)
	if err != nil {
		s.out = appendRedirectError(s.out, err)
		return
	}
	if !s.track.enabled {
		s.ded.BackendID() // for CLIENT UNBLOCK; asked before the tracker owns the connection
		s.track.start(s.ded)
	}
	start := len(s.out)
	s.inDedicated(fwd...)
	if s.ded == nil {
		return
	}
	ok := bytes.Equal(s.out[start:], []byte("+OK\r\n"))
	if ok && on {
		s.track.args = argsOn
		// The other masters: those already tracking take the change too,
		// the rest start now (a new master gets it when first used).
		for _, c := range s.track.conns {
			if c == s.ded || !ok {
				continue
			}
			if fwd, err := argsOn(c.Node); err != nil {
				s.out, ok = appendRedirectError(s.out[:start], err), false
			} else {
				ok = s.track.command(c, fwd, start)
			}
		}
		if ok {
			masters, err := s.srv.Backend.Masters()
			for _, n := range masters {
				if _, err = s.track.connOn(n); err != nil {
					break
				}
			}
			if err != nil {
				s.out = appendRedirectError(s.out[:start], err)
				ok = false
			}
		}
	}
	if ok {
		s.track.enabled, s.track.redirect = on, redirect
	}
	if !s.track.enabled {
		// Off, or refused when turning on: the connections go, with
		// whatever tracking state the backend kept for them.
		s.track.close()
		s.ded = nil
		s.tx.pinned = false
	}
}

const errNoRedirect = "ERR The client ID you want redirect to does not exist"

// errRedirectElsewhere: the REDIRECT client has no connection on a master
// the tracking client needs, so that master cannot be told where to send.
var errRedirectElsewhere = errors.New(errNoRedirect[len("ERR "):] + " on every master: subscribe it to __redis__:invalidate first")

func appendRedirectError(dst []byte, err error) []byte {
	if errors.Is(err, errRedirectElsewhere) {
		return resp.AppendError(dst, "ERR "+err.Error())
	}
	return appendBackendError(dst, err)
}

// redirectID is the backend's id of this session's connection on n, to
// which another client's invalidations can be redirected: its subscription
// connection there, or one reserved for it now on the master it would
// subscribe on.
func (s *Session) redirectID(n *backend.Node) (int64, error) {
	if ids := s.streamIDs.Load(); ids != nil {
		if id := (*ids)[n]; id != 0 {
			return id, nil
		}
	}
	if first, err := s.srv.Backend.Master(-1); err != nil || first != n {
		return 0, errRedirectElsewhere
	}
	return s.reserved.reserve(s)
}

// inDedicated runs one command on the session's dedicated connection.
func (s *Session) inDedicated(args ...[]byte) {
	if err := s.exchange(s.ded, [][]byte{resp.AppendCommand(nil, args...)}, waitNone, nil); err != nil {
		s.dropDedicated()
	}
}

// clientGetRedir answers CLIENT GETREDIR: the redverb client that gets this
// client's invalidations, 0 if none (RESP3 pushes), -1 if not tracking.
func clientGetRedir(s *Session, args [][]byte) {
	switch {
	case len(args) != 2:
		s.arityError("client|getredir")
	case !s.track.enabled:
		s.out = append(s.out, ":-1\r\n"...)
	default:
		s.out = strconv.AppendInt(append(s.out, ':'), s.track.redirect, 10)
		s.out = append(s.out, '\r', '\n')
	}
}

// clientTrackingInfo answers CLIENT TRACKINGINFO from the backend
// connection, with the redirect given as the redverb client's id.
func clientTrackingInfo(s *Session, args [][]byte) {
	if !s.track.enabled {
		s.forward(args...) // a connection that does not track answers "off"
		return
	}
	start := len(s.out)
	s.inDedicated(args...)
	if s.ded == nil {
		return
	}
	reply := s.out[start:]
	field := []byte("$8\r\nredirect\r\n:")
	i := bytes.Index(reply, field)
	if i < 0 {
		return
	}
	i += len(field)
	end := i + bytes.IndexByte(reply[i:], '\r')
	patched := append(append(append([]byte(nil), reply[:i]...), strconv.FormatInt(s.track.redirect, 10)...), reply[end:]...)
	if s.track.redirect == 0 {
		patched = reply // the backend's own -1 or 0
	}
	s.out = append(s.out[:start], patched...)
}

// clientCaching sends CLIENT CACHING YES|NO on the tracking connection, for
// the client's next command there; without tracking, the backend refuses
// it as it refuses any connection that does not track.
func clientCaching(s *Session, args [][]byte) {
	if !s.track.enabled {
		s.forward(args...)
		return
	}
	start := len(s.out)
	s.inDedicated(args...)
	if s.ded != nil && bytes.Equal(s.out[start:], []byte("+OK\r\n")) {
		s.track.caching = &pendingCaching{c: s.ded, raw: resp.AppendCommand(nil, args...)}
	}
}

// pendingCaching is a CLIENT CACHING that applies to the client's next
// command, sent on c.
type pendingCaching struct {
	c   *backend.Conn
	raw []byte
}

// reservedStream is a backend connection taken for a client that another
// client named in CLIENT TRACKING REDIRECT before it subscribed: Redis
// sends invalidations to a connection by its id, so the client's
// subscription must later run on this very connection.
type reservedStream struct {
	mu    sync.Mutex
	c     *backend.Conn
	relay chan struct{} // closed when relayPushes has stopped; nil if not running
}

// reserve returns the backend id of the connection this session will
// subscribe on, taking one now if it has none. It runs on the goroutine of
// the client that asked for the redirect.
func (r *reservedStream) reserve(s *Session) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == nil {
		ci := s.info.Load()
		key := backend.ConnKey{Proto: 2, AsClient: s.srv.Backend.AuthClients()}
		if ci != nil {
			key = ci.key
		}
		c, err := s.srv.Backend.Take(context.Background(), key, int(backend.NoSlot))
		if err != nil {
			return 0, err
		}
		r.c = c
	}
	id := r.c.BackendID()
	if id == 0 {
		return 0, backend.ErrBackend{Err: errors.New("the backend did not tell the connection's CLIENT ID")}
	}
	if r.c.Key.Proto == 3 && r.relay == nil {
		// A RESP3 client gets invalidations as pushes whether it
		// subscribes or not: pass them on from now.
		r.relay = make(chan struct{})
		go relayPushes(s, r.c, r.relay)
	}
	return id, nil
}

// relayPushes writes the pushes arriving on a reserved connection to the
// client, between its replies, until the connection is handed over or
// closed.
func relayPushes(s *Session, c *backend.Conn, done chan struct{}) {
	defer close(done)
	for {
		frame, err := c.ReadFrame(nil)
		if err != nil {
			return
		}
		if frame[0] == '>' {
			s.writeMu.Lock()
			n, _ := s.nc.Write(frame)
			s.writeMu.Unlock()
			counters.BytesOut.Add(int64(n))
		}
	}
}

// take hands over the connection reserve took, if any.
func (r *reservedStream) take() *backend.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.c
	if relay := r.relay; relay != nil {
		c.SetReadDeadline(time.Now()) // ends relayPushes' read
		<-relay
		c.SetReadDeadline(time.Time{})
		r.relay = nil
	}
	r.c = nil
	return c
}
