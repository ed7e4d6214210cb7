package backend

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/internal/stats"
	"go.uber.org/zap"
)

// redialBackoff keeps a dead backend from being redialled by every command:
// within this window after a failed dial, commands fail at once.
const redialBackoff = 200 * time.Millisecond

// maxYields bounds how often a pipe's writer yields to let more commands
// join a write.
const maxYields = 4

// A Request is one batch of commands from one session, sent in order on a
// pipe; its replies are appended to out in the same order.
type Request struct {
	Cmds [][]byte // raw RESP commands
	Out  []byte   // replies are appended after what it already holds
	Base int      // len(out) when the request was sent
	Ends []int    // ends[i] is len(out) after reply i
	Done chan struct{}
	// pending, if set, is shared by the parts of one scattered batch: only
	// the last part to complete signals done (which they share), so the
	// session wakes once.
	pending *atomic.Int32

	// Limit, if positive, caps len(out): past it the replies are read and
	// dropped, and overflow is set (the client is then disconnected).
	Limit    int
	Overflow bool

	// pipe is where Send sent it: a session's next request may follow it
	// without waiting only on the same pipe, which keeps their order.
	pipe *pipe
}

// pipe is a backend connection shared by many sessions. Commands of all
// sessions are appended to one write buffer and written together, so N
// clients cost the backend one read and one write instead of N; a single
// reader hands the replies back in order.
type pipe struct {
	n   *Node
	key ConnKey

	mu      sync.Mutex
	c       *Conn
	wbuf    []byte
	writing bool   // someone (the writer, or a session writing itself) is writing to c
	direct  []byte // a session's own write, while writing

	queue    []*Request // written or about to be, waiting for replies
	head     int
	headAt   time.Time // when the request at head became the oldest waiting
	dialErr  error
	dialedAt time.Time
}

func newPipe(n *Node, key ConnKey) *pipe { return &pipe{n: n, key: key} }

// do sends req and waits for all its replies. Backend failures become error
// replies for the commands that did not get an answer, so a session always
// has exactly one reply per command.
func (p *pipe) do(req *Request) {
	if p.send(req) {
		<-req.Done
	}
}

// send queues req without waiting; req.done receives once its replies are
// in. It reports false if req failed at once (its replies are errors and
// done receives nothing).
func (p *pipe) send(req *Request) bool {
	req.Base = len(req.Out)
	req.Ends = req.Ends[:0]
	req.Overflow = false
	p.mu.Lock()
	if p.idleLocked() {
		// Let goroutines already runnable go first: commands of other
		// clients that reached the proxy with this one (woken by the same
		// poll) then reach Redis before it, as they would reach Redis
		// itself. The writer's yields did this for every batch.
		p.mu.Unlock()
		runtime.Gosched()
		p.mu.Lock()
	}
	if err := p.connectLocked(context.Background()); err != nil {
		p.mu.Unlock()
		req.failRest(err)
		return false
	}
	idle := p.idleLocked()
	p.queue = append(p.queue, req)
	req.pipe = p
	if len(p.queue)-p.head == 1 {
		p.headAt = time.Now()
	}
	if idle {
		// Nothing else is waiting on this connection: the session writes
		// its commands itself, sparing a hand-off to the writer. Under
		// load the pipe is never idle, and commands gather in wbuf.
		p.writing = true
		c := p.c
		buf := p.direct[:0]
		for _, cmd := range req.Cmds {
			buf = append(buf, cmd...)
		}
		p.direct = buf
		p.mu.Unlock()
		_, err := c.nc.Write(buf)
		p.wrote(c)
		if err != nil {
			c.nc.Close() // the reader fails what is queued
		}
		return true
	}
	for _, cmd := range req.Cmds {
		p.wbuf = append(p.wbuf, cmd...)
	}
	kick(p.c)
	p.mu.Unlock()
	return true
}

// writeLoop writes what sessions queued. It runs in its own goroutine so
// that while it is being woken, and while each write is in the kernel, more
// sessions append their commands: under load one syscall carries the
// commands of many clients.
func (p *pipe) writeLoop(c *Conn) {
	var buf []byte
	for range c.kick {
		// Let sessions that are already runnable add their commands, for as
		// long as more keep arriving (bounded, so a steady trickle cannot
		// starve the write).
		for i, size := 0, -1; i < maxYields; i++ {
			p.mu.Lock()
			grew := len(p.wbuf) > size
			size = len(p.wbuf)
			p.mu.Unlock()
			if !grew {
				break
			}
			runtime.Gosched()
		}
		p.mu.Lock()
		if p.c != c {
			p.mu.Unlock()
			return
		}
		if p.writing || len(p.wbuf) == 0 {
			p.mu.Unlock() // a session writing itself kicks again when done
			continue
		}
		buf, p.wbuf = p.wbuf, buf[:0]
		p.writing = true
		p.mu.Unlock()
		_, err := c.nc.Write(buf)
		p.wrote(c)
		if err != nil {
			c.nc.Close() // the reader fails what is queued
			return
		}
	}
}

// idleLocked reports whether nothing is waiting on the connection: no
// reply due, no write pending, no one writing. p.mu is held.
func (p *pipe) idleLocked() bool {
	return p.head == len(p.queue) && !p.writing && len(p.wbuf) == 0
}

// wrote ends a write to c, by the writer or by a session writing itself,
// and wakes the writer for what was queued meanwhile.
func (p *pipe) wrote(c *Conn) {
	p.mu.Lock()
	p.writing = false
	if len(p.wbuf) > 0 {
		kick(c)
	}
	p.mu.Unlock()
}

func kick(c *Conn) {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (p *pipe) connectLocked(ctx context.Context) error {
	if p.c != nil {
		return nil
	}
	if p.dialErr != nil && time.Since(p.dialedAt) < redialBackoff {
		return p.dialErr
	}
	c, err := p.n.Dial(ctx, p.key)
	if err == nil {
		if err = p.n.b.loadLibraries(c); err != nil {
			c.nc.Close()
		}
	}
	p.dialedAt = time.Now()
	p.dialErr = err
	if err != nil {
		return err
	}
	p.c = c
	p.wbuf = p.wbuf[:0]
	c.kick = make(chan struct{}, 1)
	go p.readLoop(c)
	go p.writeLoop(c)
	return nil
}

// ensure connects if needed and reports the handshake's outcome.
func (p *pipe) ensure(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialErr = nil // an explicit check deserves a fresh attempt
	return p.connectLocked(ctx)
}

func (p *pipe) readLoop(c *Conn) {
	for {
		if _, err := c.r.Peek(1); err != nil {
			p.fail(c, err)
			return
		}
		p.mu.Lock()
		if p.head == len(p.queue) {
			p.mu.Unlock()
			p.fail(c, errors.New("unexpected data from backend"))
			return
		}
		req := p.queue[p.head]
		p.mu.Unlock()
		for len(req.Ends) < len(req.Cmds) {
			var err error
			req.Out, err = resp.ReadReply(c.r, req.Out)
			if err != nil {
				p.fail(c, err)
				return
			}
			if req.Overflow || (req.Limit > 0 && len(req.Out) > req.Limit) {
				req.Overflow = true
				req.Out = req.Out[:req.Base]
			}
			req.Ends = append(req.Ends, len(req.Out))
		}
		p.mu.Lock()
		p.queue[p.head] = nil
		p.head++
		if p.head == len(p.queue) {
			p.queue, p.head = p.queue[:0], 0
		} else {
			p.headAt = time.Now()
		}
		p.mu.Unlock()
		req.complete()
	}
}

// fail drops a broken connection and answers everything waiting on it.
func (p *pipe) fail(c *Conn, cause error) {
	c.nc.Close()
	p.mu.Lock()
	if p.c != c {
		p.mu.Unlock()
		return
	}
	p.c = nil
	kick(c) // its writer sees it is no longer current and exits
	waiting := append([]*Request(nil), p.queue[p.head:]...)
	clear(p.queue)
	p.queue, p.head = p.queue[:0], 0
	p.mu.Unlock()
	// The server most likely went away with it (a restart, a failover):
	// its idle pooled connections are gone too, and lending one would
	// fail the next blocking command or transaction.
	p.n.dropIdle()
	if errors.Is(cause, net.ErrClosed) {
		cause = errors.New("connection closed")
	}
	if len(waiting) > 0 {
		p.n.b.log.Warn("backend connection lost", zap.String("node", p.n.addr), zap.Error(cause), zap.Int("waiting", len(waiting)))
	}
	for _, req := range waiting {
		req.failRest(ErrBackend{cause})
		req.complete()
	}
}

// stalled reports whether the oldest request has waited longer than d.
func (p *pipe) stalled(d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.head < len(p.queue) && time.Since(p.headAt) > d
}

func (p *pipe) connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c != nil
}

func (p *pipe) close() {
	p.mu.Lock()
	c := p.c
	p.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

// complete signals that req has all its replies.
func (req *Request) complete() {
	if req.pending != nil && req.pending.Add(-1) > 0 {
		return
	}
	req.Done <- struct{}{}
}

// failRest answers every command that has no reply yet with err.
func (req *Request) failRest(err error) {
	var line []byte
	var re ReplyError
	if errors.As(err, &re) {
		line = re.Reply
	} else {
		line = resp.AppendError(nil, "ERR "+err.Error())
		counters.Errors[stats.ErrBackend].Add(int64(len(req.Cmds) - len(req.Ends)))
	}
	for len(req.Ends) < len(req.Cmds) {
		req.Out = append(req.Out, line...)
		req.Ends = append(req.Ends, len(req.Out))
	}
}

// Start returns where reply i begins in out.
func (req *Request) Start(i int) int {
	if i > 0 {
		return req.Ends[i-1]
	}
	return req.Base
}

// Reply returns the raw bytes of Reply i.
func (req *Request) Reply(i int) []byte {
	return req.Out[req.Start(i):req.Ends[i]]
}
