package proxy

import (
	"net"
	"sync"
	"time"

	"github.com/redverb/redverb/backend"
)

// A client that pipelines keeps sending while the replies to what it sent
// are on their way, and Redis overlaps reading, running and writing for it.
// So does the session: a batch of ordinary commands is sent as a flight and
// the session goes back to reading, while writeFlights writes each flight's
// replies, oldest first, as they arrive (twemproxy's out-queue, Envoy's
// pending list). Anything else (a transaction, a blocking command, a verb,
// a local command, a subscribe) first waits for every flight to be written
// and then runs as before, so each still sees what came before it done.

// Bounds on one client's flights, as Redis bounds a client's query and
// output buffers: a fast writer waits for its replies beyond them, and so
// does a client that does not read the replies it has.
const (
	maxFlights     = 16
	maxFlightBytes = 1 << 20 // commands sent and not yet answered
)

// A flight is a batch sent to the backend whose replies have not yet been
// written to the client.
type flight struct {
	req   backend.Request
	rt    backend.Routing
	key   backend.ConnKey
	raw   []byte     // the commands, when a redirect may resend them
	specs []*cmdSpec // per command, for its statistics
	sent  time.Time
	size  int // bytes of its commands
}

// flights are a session's flights, oldest first. The session's reading
// goroutine adds them; one writing goroutine, started when there are any
// and gone when there are none, writes their replies.
type flights struct {
	mu        sync.Mutex
	cond      sync.Cond // signalled when a flight is written
	queue     []*flight // queue[head:] are in the air
	head      int
	free      []*flight // written, for reuse by the reading goroutine
	bytes     int       // sum of the queued flights' sizes
	unwritten int       // bytes of replies being written
	writing   bool      // writeFlights is running
	failed    bool      // the client could not be written to, or passed its output limit
}

// streamable returns how many commands at the front of cmds may go as a
// flight: the session is in its ordinary state, and each goes to the
// backend on shared connections with nothing to do after its reply but to
// write it.
func (s *Session) streamable(cmds []command) int {
	if s.sub != nil || s.ded != nil || s.replies != repliesOn || s.tx.inMulti || s.track.enabled ||
		len(s.track.conns) > 0 || !s.authed.Load() || s.srv.Backend.BusyReply() != nil {
		return 0
	}
	for i := range cmds {
		c := &cmds[i]
		if c.kind != kindShared || c.spec.flags&addsProxyInfo != 0 ||
			c.spec.flags&heldByPause != 0 && s.srv.Backend.WritesPaused() ||
			s.srv.Cache != nil && (c.spec.flags&cachedRead != 0 || c.spec.inval != invNone) {
			return i
		}
	}
	return len(cmds)
}

// stream sends cmds as a flight without waiting for the replies. It
// reports false, having sent nothing, when they cannot follow the flights
// in the air in order (another server, another connection); the caller
// then drains and runs them.
func (s *Session) stream(cmds []command) bool {
	fl := &s.fl
	fl.mu.Lock()
	var f *flight
	if n := len(fl.free); n > 0 {
		f, fl.free = fl.free[n-1], fl.free[:n-1]
	}
	fl.mu.Unlock()
	if f == nil {
		f = &flight{}
		f.req.Done = make(chan struct{}, 1)
	}
	f.req.Cmds, f.rt.Targets, f.specs, f.raw, f.size = f.req.Cmds[:0], f.rt.Targets[:0], f.specs[:0], f.raw[:0], 0
	copied := s.srv.Backend.Redirects() // a redirect resends a command after the input buffer has moved on
	for i := range cmds {
		c := &cmds[i]
		t := s.srv.Backend.TargetOf(c.spec.keys, c.args)
		if t != backend.NoSlot {
			s.lastTarget = t
		}
		if copied {
			f.raw = append(f.raw, c.raw...)
		}
		f.req.Cmds, f.rt.Targets = append(f.req.Cmds, c.raw), append(f.rt.Targets, t)
		f.specs = append(f.specs, c.spec)
		f.size += len(c.raw)
	}
	if copied {
		// The commands point at their copies, once f.raw has stopped growing.
		off := 0
		for i, raw := range f.req.Cmds {
			f.req.Cmds[i] = f.raw[off : off+len(raw) : off+len(raw)]
			off += len(raw)
		}
	}
	f.key, f.req.Out, f.req.Limit = s.key(), f.req.Out[:0], s.srv.clientOutputLimit()

	fl.mu.Lock()
	for fl.inAir() > 0 && (fl.inAir() >= maxFlights || fl.bytes+f.size > maxFlightBytes || fl.unwritten > maxFlightBytes) {
		fl.cond.Wait()
	}
	var after *backend.Request
	if fl.inAir() > 0 {
		after = &fl.queue[len(fl.queue)-1].req
	}
	fl.mu.Unlock()
	// after is not reused while this runs: only this goroutine takes from
	// the free list.
	f.sent = time.Now()
	if !s.srv.Backend.Send(f.key, s.id, &f.req, &f.rt, after) {
		fl.mu.Lock()
		fl.free = append(fl.free, f)
		fl.mu.Unlock()
		return false
	}
	s.setLastCmd(&cmds[len(cmds)-1])
	fl.mu.Lock()
	fl.queue = append(fl.queue, f)
	fl.bytes += f.size
	start := !fl.writing
	fl.writing = true
	fl.mu.Unlock()
	if start {
		go s.writeFlights()
	}
	return true
}

// writeFlights writes the flights' replies in order until none is left.
// The replies of every flight already answered go out in one writev.
func (s *Session) writeFlights() {
	fl := &s.fl
	var bufs, pending net.Buffers
	for {
		fl.mu.Lock()
		if fl.inAir() == 0 {
			fl.queue, fl.head = fl.queue[:0], 0
			fl.writing = false
			fl.cond.Broadcast()
			fl.mu.Unlock()
			return
		}
		// Only this goroutine removes flights; the reading goroutine may
		// append (and move the queue), which leaves these entries as they are.
		inAir, failed := fl.queue[fl.head:], fl.failed
		fl.mu.Unlock()

		f := inAir[0]
		s.srv.Backend.Wait(f.key, s.id, &f.req, &f.rt)
		ready := 1
		for ready < len(inAir) && s.srv.Backend.Answered(inAir[ready].key, s.id, &inAir[ready].req, &inAir[ready].rt) {
			ready++
		}
		now, size := time.Now(), 0
		bufs = bufs[:0]
		for _, f := range inAir[:ready] {
			d := now.Sub(f.sent)
			for _, spec := range f.specs {
				spec.counter().Observe(d)
			}
			if !failed && (f.req.Overflow || (f.req.Limit > 0 && len(f.req.Out) > f.req.Limit)) {
				s.outputLimitPassed()
				failed = true
			}
			bufs = append(bufs, f.req.Out)
			size += len(f.req.Out)
		}
		if !failed {
			s.mem.out.Add(int64(size)) // CLIENT LIST's omem while it is written
			fl.mu.Lock()
			fl.unwritten = size
			fl.mu.Unlock()
			pending = append(pending[:0], bufs...) // WriteTo consumes what it is given
			s.writeMu.Lock()
			n, err := pending.WriteTo(s.nc)
			s.writeMu.Unlock()
			s.mem.out.Add(-int64(size))
			counters.BytesOut.Add(n)
			failed = err != nil
		}
		if failed {
			s.nc.Close() // the reading goroutine sees the client gone
		}
		fl.mu.Lock()
		for _, f := range inAir[:ready] {
			if cap(f.req.Out) > 64<<10 {
				f.req.Out = nil // do not keep a huge reply's buffer
			}
			clear(f.req.Cmds)
			fl.queue[fl.head] = nil
			fl.head++
			fl.bytes -= f.size
			fl.free = append(fl.free, f)
		}
		fl.unwritten = 0
		fl.failed = fl.failed || failed
		fl.cond.Broadcast()
		fl.mu.Unlock()
		clear(bufs)
	}
}

// drain waits until every flight's replies are written, and reports
// whether the session must end (its client is gone or over its limit).
func (s *Session) drain() (failed bool) {
	fl := &s.fl
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for fl.writing {
		fl.cond.Wait()
	}
	return fl.failed
}

func (fl *flights) inAir() int { return len(fl.queue) - fl.head }

// shed forgets the flights' buffers of a client gone idle.
func (fl *flights) shed() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if !fl.writing {
		fl.free, fl.queue, fl.head = nil, nil, 0
	}
}
