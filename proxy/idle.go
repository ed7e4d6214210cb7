package proxy

import (
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/redverb/redverb/internal/stats"
)

// A goroutine's stack grows while it runs commands, to 4 KiB or more, and
// the runtime shrinks a stack only when less than a quarter of it is in use,
// which a goroutine parked deep in a socket read never gets down to. So a
// client idle for shedAfter is moved to a fresh goroutine, whose stack
// starts as small as Go makes them: an idle client then costs about half.
// A busy client is never moved, so the hot path pays only a mutex.
const shedAfter = 2 * time.Second

// errShed ends a session goroutine's read so that a fresh one takes over.
var errShed = errors.New("idle client moved to a fresh goroutine")

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

// giveBackAfter is how many clients must have left, or moved to small
// stacks, before the janitor returns the memory they freed to the OS. Go's
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
	freed, last := 0, 0
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			// Clients moved or gone by the last tick have freed their
			// memory by now.
			if freed >= giveBackAfter {
				debug.FreeOSMemory()
				freed = 0
			}
			sessions := srv.sessionsSnapshot()
			for _, s := range sessions {
				idle := now.Sub(time.Unix(0, s.lastSeen.Load()))
				if srv.Timeout > 0 && idle > srv.Timeout && s.in.shed.waiting() && !s.isStreaming() {
					// Redis's timeout: an idle client is closed, one
					// blocked in a command or subscribed is not.
					counters.Count(stats.ErrTimeout)
					s.killed.Store(true)
					s.nc.Close()
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
