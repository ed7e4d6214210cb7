package proxy

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/resp"
	"go.uber.org/zap"
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

// startTracking makes a tracker the reader of c, a connection CLIENT
// TRACKING is (being turned) on for the session, until the session's
// next replies are written (begin).
func (s *Session) startTracking(c *backend.Conn) {
	tr := &tracker{s: s, c: c, ready: make(chan struct{}, 1), done: make(chan struct{})}
	c.Tracker = tr
	tr.begin()
	go tr.watch()
	s.tracked = append(s.tracked, c)
}

func (tr *tracker) watch() {
	defer close(tr.done)
	for {
		frame, err := resp.ReadReply(tr.c.In, nil)
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
	tr.c.Net.Close()
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
	args = cloneArgs(args) // kept in s.trackArgs, past the input buffer's reuse
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
	if !s.tracking && !on {
		s.forward(args...) // OFF, or a bad call, with nothing to turn off
		return
	}
	if !s.tracking && !s.ensureDedicated(backend.NoSlot) {
		return
	}
	fwd, err := argsOn(s.ded.Node)
	if err != nil {
		s.out = appendRedirectError(s.out, err)
		return
	}
	if !s.tracking {
		s.ded.BackendID() // for CLIENT UNBLOCK; asked before the tracker owns the connection
		s.startTracking(s.ded)
	}
	start := len(s.out)
	s.inDedicated(fwd...)
	if s.ded == nil {
		return
	}
	ok := bytes.Equal(s.out[start:], []byte("+OK\r\n"))
	if ok && on {
		s.trackArgs = argsOn
		// The other masters: those already tracking take the change too,
		// the rest start now (a new master gets it when first used).
		for _, c := range s.tracked {
			if c == s.ded || !ok {
				continue
			}
			if fwd, err := argsOn(c.Node); err != nil {
				s.out, ok = appendRedirectError(s.out[:start], err), false
			} else {
				ok = s.trackedCommand(c, fwd, start)
			}
		}
		if ok {
			masters, err := s.srv.Backend.Masters()
			for _, n := range masters {
				if _, err = s.trackedOn(n); err != nil {
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
		s.tracking, s.trackRedirect = on, redirect
	}
	if !s.tracking {
		// Off, or refused when turning on: the connections go, with
		// whatever tracking state the backend kept for them.
		s.closeTracked()
		s.ded = nil
		s.tracking, s.trackRedirect, s.pinned = false, 0, false
	}
}

// wholeServerWhileTracking reports whether a tracking client's command is
// one about the whole server (INFO, DBSIZE, KEYS, ...) that runs on every
// master as for any client, not on the tracked connection at hand. A
// command split by slot stays there (and gets -CROSSSLOT): its reads would
// not be tracked.
func (s *Session) wholeServerWhileTracking(c *command) bool {
	return c.kind == kindClusterWide && s.tracking && !s.inMulti && !s.watching && c.spec.wide.split == nil
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
	return s.reserveStream()
}

// trackedOn returns the session's tracking connection on n, starting one
// with the client's CLIENT TRACKING options if there is none.
func (s *Session) trackedOn(n *backend.Node) (*backend.Conn, error) {
	for _, c := range s.tracked {
		if c.Node == n {
			return c, nil
		}
	}
	fwd, err := s.trackArgsFor(n)
	if err != nil {
		return nil, err
	}
	c, err := n.Take(context.Background(), s.ded.Key)
	if err != nil {
		return nil, err
	}
	c.BackendID()
	reply, err := c.RoundTrip(fwd...)
	if err == nil && !bytes.Equal(reply, []byte("+OK\r\n")) {
		err = backend.ReplyError{Reply: reply}
	}
	if err != nil {
		c.Net.Close()
		return nil, err
	}
	s.startTracking(c)
	return c, nil
}

// trackArgsFor is the client's CLIENT TRACKING for n, while it is being
// turned on (s.trackArgs is set once it is on).
func (s *Session) trackArgsFor(n *backend.Node) ([][]byte, error) {
	if s.trackArgs == nil {
		return nil, errors.New("CLIENT TRACKING is not on")
	}
	return s.trackArgs(n)
}

// trackedCommand runs a command of the client's on another tracked
// connection c, whose reply is redverb's to check: pushes that came before
// it go to the client, an error reply replaces the client's reply (from
// start). It reports whether the reply was +OK.
func (s *Session) trackedCommand(c *backend.Conn, args [][]byte, start int) bool {
	reply, err := s.trackedOwn(c, resp.AppendCommand(nil, args...))
	switch {
	case err != nil:
		s.out = appendBackendError(s.out[:start], err)
	case !bytes.Equal(reply, []byte("+OK\r\n")):
		s.out = append(s.out[:start], reply...)
	default:
		return true
	}
	return false
}

// trackedOwn sends raw on a tracked connection and returns its reply; the
// pushes read before it are the client's, appended to s.out.
func (s *Session) trackedOwn(c *backend.Conn, raw []byte) ([]byte, error) {
	c.NoteOwn(raw)
	if _, err := c.Net.Write(raw); err != nil {
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
		s.out = append(s.out, f...)
	}
}

// closeTracked stops tracking on every connection it is on (they close).
func (s *Session) closeTracked() {
	for _, c := range s.tracked {
		if c != s.ded {
			trackerOf(c).stop()
		}
	}
	if s.ded != nil && s.ded.Tracker != nil {
		trackerOf(s.ded).stop()
	}
	s.tracked, s.trackArgs, s.caching = nil, nil, nil
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
	case !s.tracking:
		s.out = append(s.out, ":-1\r\n"...)
	default:
		s.out = strconv.AppendInt(append(s.out, ':'), s.trackRedirect, 10)
		s.out = append(s.out, '\r', '\n')
	}
}

// clientTrackingInfo answers CLIENT TRACKINGINFO from the backend
// connection, with the redirect given as the redverb client's id.
func clientTrackingInfo(s *Session, args [][]byte) {
	if !s.tracking {
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
	patched := append(append(append([]byte(nil), reply[:i]...), strconv.FormatInt(s.trackRedirect, 10)...), reply[end:]...)
	if s.trackRedirect == 0 {
		patched = reply // the backend's own -1 or 0
	}
	s.out = append(s.out[:start], patched...)
}

// clientCaching sends CLIENT CACHING YES|NO on the tracking connection, for
// the client's next command there; without tracking, the backend refuses
// it as it refuses any connection that does not track.
func clientCaching(s *Session, args [][]byte) {
	if !s.tracking {
		s.forward(args...)
		return
	}
	start := len(s.out)
	s.inDedicated(args...)
	if s.ded != nil && bytes.Equal(s.out[start:], []byte("+OK\r\n")) {
		s.caching = &pendingCaching{c: s.ded, raw: resp.AppendCommand(nil, args...)}
	}
}

// pendingCaching is a CLIENT CACHING that applies to the client's next
// command, sent on c.
type pendingCaching struct {
	c   *backend.Conn
	raw []byte
}

// placeCaching makes a pending CLIENT CACHING apply where the next
// command runs: if that is another master's connection, it is sent there
// too, and c's flag is spent on a PING (any command ends it).
func (s *Session) placeCaching() {
	pc := s.caching
	s.caching = nil
	if pc == nil || pc.c == s.ded || !slices.Contains(s.tracked, pc.c) {
		return
	}
	_, err := s.trackedOwn(pc.c, resp.AppendCommand(nil, []byte("PING")))
	if err == nil {
		_, err = s.trackedOwn(s.ded, pc.raw)
	}
	if err != nil {
		s.srv.log.Debug("CLIENT CACHING not moved", zap.Uint64("client", s.id), zap.Error(err))
	}
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

// reserveStream returns the backend id of the connection this session will
// subscribe on, taking one now if it has none. It runs on the goroutine of
// the client that asked for the redirect.
func (s *Session) reserveStream() (int64, error) {
	s.reserved.mu.Lock()
	defer s.reserved.mu.Unlock()
	if s.reserved.c == nil {
		ci := s.info.Load()
		key := backend.ConnKey{Proto: 2, AsClient: s.srv.Backend.Opts.AuthClients}
		if ci != nil {
			key = ci.key
		}
		c, err := s.srv.Backend.Take(context.Background(), key, int(backend.NoSlot))
		if err != nil {
			return 0, err
		}
		s.reserved.c = c
	}
	id := s.reserved.c.BackendID()
	if id == 0 {
		return 0, backend.ErrBackend{Err: errors.New("the backend did not tell the connection's CLIENT ID")}
	}
	if s.reserved.c.Key.Proto == 3 && s.reserved.relay == nil {
		// A RESP3 client gets invalidations as pushes whether it
		// subscribes or not: pass them on from now.
		s.reserved.relay = make(chan struct{})
		go s.relayPushes(s.reserved.c, s.reserved.relay)
	}
	return id, nil
}

// relayPushes writes the pushes arriving on a reserved connection to the
// client, between its replies, until the connection is handed over or
// closed.
func (s *Session) relayPushes(c *backend.Conn, done chan struct{}) {
	defer close(done)
	for {
		frame, err := resp.ReadReply(c.In, nil)
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

// takeReserved hands over the connection reserveStream took, if any.
func (s *Session) takeReserved() *backend.Conn {
	s.reserved.mu.Lock()
	defer s.reserved.mu.Unlock()
	c := s.reserved.c
	if relay := s.reserved.relay; relay != nil {
		c.Net.SetReadDeadline(time.Now()) // ends relayPushes' read
		<-relay
		c.Net.SetReadDeadline(time.Time{})
		s.reserved.relay = nil
	}
	s.reserved.c = nil
	return c
}
