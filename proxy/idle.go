package proxy

import (
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/redverb/redverb/internal/stats"
)

// A goroutine costs its stack (2 KiB to start, 4 KiB or more once it has
// run commands) and its g while its client says nothing, more than all the
// rest of an idle client. So a client idle for shedAfter drops its scratch
// buffers and its goroutine ends: the client is parked, without a
// goroutine, until it sends something (see park_linux.go), or, where it
// cannot be parked, moved to a fresh goroutine with the smallest stack.
// Parking costs two epoll_ctl calls and a goroutine start per idle spell,
// nothing to a client idle that long; a busy client is never parked, so
// the hot path pays only a mutex.
const shedAfter = 500 * time.Millisecond

// errShed ends a session goroutine's read so that it can be parked.
var errShed = errors.New("idle client parked")

// shedding coordinates the janitor, which asks an idle client to move by
// setting a read deadline in the past, with the client's own read.
type shedding struct {
	mu     sync.Mutex
	parked bool // waiting for the client's next command, holding no buffer
	asked  bool // the janitor set a read deadline to move it
	moved  bool // moved and idle since: nothing more to gain
}

// waiting reports whether the client is waiting for its next command (not
// running one).
func (sh *shedding) waiting() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.parked
}

func (sh *shedding) park() {
	sh.mu.Lock()
	sh.parked = true
	sh.mu.Unlock()
}

// unpark ends a wait and says how it ended: errShed if the janitor's
// deadline ended it; otherwise the janitor's request, if it came too late,
// is withdrawn.
func (sh *shedding) unpark(conn net.Conn, err error) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.parked = false
	if err == nil {
		sh.moved = false // the client sent something: it may be moved again later
	}
	if !sh.asked {
		return err
	}
	sh.asked = false
	conn.SetReadDeadline(time.Time{})
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		sh.moved = true
		return errShed
	}
	return err
}

// ask moves a parked client that has not been moved since its last
// command, and reports whether it did.
func (sh *shedding) ask(conn net.Conn) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.parked || sh.asked || sh.moved {
		return false
	}
	sh.asked = true
	conn.SetReadDeadline(time.Unix(1, 0))
	return true
}

// giveBackAfter is how many clients must have left, or been parked,
// before the janitor returns the memory they freed to the OS (a tenth of
// it, once no more are coming). A forced GC and scavenge is not free, so
// a trickle of clients does not trigger one every tick. Go's
// own scavenger gives memory back only slowly, so without this the RSS of a
// proxy stays at its peak long after a crowd of clients has gone.
const giveBackAfter = 1000

// shedIdleClients is the janitor: until stop closes, it closes clients
// idle past Server.Timeout, asks clients idle for shedAfter to move to a
// fresh goroutine, and gives freed memory back to the OS after many
// clients left or moved.
func (srv *Server) shedIdleClients(stop <-chan struct{}) {
	tick := time.NewTicker(shedAfter / 2)
	defer tick.Stop()
	freed, last, wave := 0, 0, 0
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			// Clients moved or gone by the last tick have freed their
			// memory by now. Give it back once many have, or once a
			// crowd has stopped arriving (or leaving).
			if freed >= giveBackAfter || (freed >= giveBackAfter/10 && freed == wave) {
				debug.FreeOSMemory()
				freed = 0
			}
			wave = freed
			sessions := srv.sessionsSnapshot()
			for _, s := range sessions {
				idle := now.Sub(time.Unix(0, s.lastSeen.Load()))
				if srv.Timeout > 0 && idle > srv.Timeout && (s.in.shed.waiting() || srv.parker.holds(s)) && !s.isStreaming() {
					// Redis's timeout: an idle client is closed, one
					// blocked in a command or subscribed is not.
					counters.Count(stats.ErrTimeout)
					s.killed.Store(true)
					srv.parker.hangUp(s)
					continue
				}
				if idle > shedAfter && s.in.shed.ask(s.nc) {
					freed++
				}
			}
			if len(sessions) < last {
				freed += last - len(sessions)
			}
			last = len(sessions)
		}
	}
}

// plain reports whether the session has nothing running for it but its
// own reads: no subscription, dedicated connection or tracking, whose
// goroutines and connections a parked session would leave unattended.
func (s *Session) plain() bool {
	return s.sub == nil && s.ded == nil && !s.track.enabled && len(s.track.conns) == 0
}

// shrink drops the buffers and scratch space a session grew while it ran
// commands, when its client has gone idle; they grow again on demand.
func (s *Session) shrink() {
	s.fl.shed()
	s.out, s.scratch = nil, nil
	s.in.shrink()
}
