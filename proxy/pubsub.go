package proxy

import (
	"sync"
	"time"

	"github.com/redverb/redverb/backend"
	"go.uber.org/zap"
)

// subscriber streams a subscribed client's dedicated backend connection to
// the client. Messages arrive whenever the backend publishes them, so a
// reader goroutine queues them and a writer goroutine drains the queue to
// the client. The queue is bounded: a client that stops reading is
// disconnected once its backlog passes the limit, like Redis's pubsub
// client-output-buffer-limit, instead of growing the proxy's memory.
type subscriber struct {
	s       *Session
	c       *backend.Conn
	limit   int
	monitor bool // a MONITOR feed rather than subscriptions
	feed    *backend.MonitorFeed
	others  []*backend.Conn // to a cluster's other masters, once needed (see fanout.go)
	acks    chan struct{}   // their confirmations

	mu      sync.Mutex
	buf     []byte
	stopped bool
	wake    chan struct{}
	written chan struct{} // closed when the writer has exited
}

// startStreaming moves the session to pub/sub: from here on its commands go
// to its own backend connection and replies reach the client through the
// subscriber. It returns how many commands it consumed.
func (s *Session) startStreaming(cmds []command) int {
	if c := s.reserved.take(); c != nil {
		// Another client's invalidations are redirected to this connection.
		if s.ded == nil && c.Key == s.key() {
			s.ded = c
		} else {
			c.Close()
		}
	}
	if !s.ensureDedicated(s.tx.pinTarget(&cmds[0])) {
		return 1
	}
	if s.flush() != nil {
		s.quit = true
		return len(cmds)
	}
	s.streamIDs.Store(&map[*backend.Node]int64{s.ded.Node: s.ded.BackendID()}) // for CLIENT TRACKING REDIRECT; asked before streaming starts
	sub := &subscriber{
		s:       s,
		c:       s.ded,
		limit:   s.srv.subscriberBacklog(),
		monitor: cmds[0].spec.name == "monitor",
		wake:    make(chan struct{}, 1),
		written: make(chan struct{}),
	}
	if sub.monitor {
		sub.feed = s.srv.Backend.StartMonitorFeed()
	}
	s.sub = sub
	s.publishInfo() // before any reply: CLIENT KILL TYPE pubsub must see it
	go sub.readLoop()
	go sub.writeLoop()
	return s.runStreaming(cmds)
}

// runStreaming forwards commands of a subscribed session, answering the
// proxy's own commands locally, and returns how many it consumed: all of
// them, unless RESET ends pub/sub mode partway.
func (s *Session) runStreaming(cmds []command) int {
	var wbuf []byte
	send := func() {
		if len(wbuf) > 0 {
			if err := s.ded.Write(wbuf); err != nil {
				s.sub.push(appendBackendError(nil, err))
			}
			wbuf = wbuf[:0]
		}
	}
	for i, cmd := range cmds {
		if cmd.kind != kindLocal || cmd.spec.flags&unsubscribes != 0 {
			wbuf = append(wbuf, cmd.raw...)
			if name := cmd.spec.name; s.sub.fansOut(name, cmd.args) {
				s.sub.sendOthers(name, cmd.args, cmd.raw)
			}
			continue
		}
		send()
		cmd.spec.local(s, cmd.args)
		if s.sub == nil { // RESET: the session is back to normal mode
			return i + 1
		}
		s.sub.push(s.out)
		s.out = s.out[:0]
		if s.quit {
			return len(cmds)
		}
	}
	send()
	return len(cmds)
}

func (sub *subscriber) readLoop() {
	if sub.feed != nil {
		defer sub.feed.Stop()
	}
	var frame []byte
	for {
		var err error
		frame, err = sub.c.ReadFrame(frame[:0])
		if err != nil {
			sub.lost(err)
			return
		}
		if sub.feed != nil && sub.feed.Hides(frame) {
			continue // one of redverb's own commands
		}
		if !sub.push(frame) {
			counters.SubscribersDropped.Add(1)
			sub.s.srv.log.Warn("disconnecting subscriber over its backlog limit",
				zap.Uint64("client", sub.s.id), zap.Int("limit", sub.limit))
			sub.s.nc.Close()
			sub.c.Close()
			return
		}
	}
}

// lost ends a read of one of the subscriber's backend connections, which
// failed: unless the subscriber stopped it, the backend went away, and the
// client must resubscribe, so its connection is dropped as Redis would on a
// restart.
func (sub *subscriber) lost(err error) {
	sub.mu.Lock()
	stopped := sub.stopped
	sub.mu.Unlock()
	if !stopped {
		sub.s.srv.log.Warn("pub/sub backend connection lost", zap.Uint64("client", sub.s.id), zap.Error(err))
		sub.s.nc.Close()
	}
}

// push queues bytes for the client; false means the backlog limit is hit.
func (sub *subscriber) push(b []byte) bool {
	sub.mu.Lock()
	if len(sub.buf)+len(b) > sub.limit {
		sub.mu.Unlock()
		return false
	}
	sub.buf = append(sub.buf, b...)
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
	return true
}

func (sub *subscriber) writeLoop() {
	defer close(sub.written)
	var spare []byte
	for range sub.wake {
		for {
			sub.mu.Lock()
			b, stopped := sub.buf, sub.stopped
			if len(b) > 0 {
				sub.buf = spare[:0]
			}
			sub.mu.Unlock()
			if len(b) == 0 {
				if stopped {
					return
				}
				break
			}
			n, err := sub.s.nc.Write(b)
			counters.BytesOut.Add(int64(n))
			if err != nil {
				sub.s.nc.Close()
				return
			}
			spare = b
		}
	}
}

// stop ends streaming: the backend connection is closed (it holds
// subscriptions, so it is never pooled) and what is queued is written out.
func (sub *subscriber) stop() {
	sub.mu.Lock()
	sub.stopped = true
	for _, c := range sub.others {
		c.Close()
	}
	sub.mu.Unlock()
	sub.c.Close()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
	// A client that is not reading must not hold the session forever.
	sub.s.nc.SetWriteDeadline(time.Now().Add(time.Second))
	<-sub.written
	sub.s.nc.SetWriteDeadline(time.Time{})
}

// endStreaming leaves pub/sub mode; the subscribed connection is closed.
func (s *Session) endStreaming() {
	s.sub.stop()
	s.sub, s.ded = nil, nil
	s.streamIDs.Store(nil)
}
