package backend

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/redverb/redverb/internal/resp"
	"go.uber.org/zap"
)

// Redis tells a client which keys changed (CLIENT TRACKING); redverb keeps
// one such client per master, in broadcasting mode (BCAST): every change
// of a key under the prefixes is announced, whoever made it and whether or
// not redverb read the key. Default mode would announce only keys read on
// the tracked connections, which means tracking every shared connection,
// Redis remembering every key read through them, and reads on dedicated
// connections escaping it; BCAST costs one message per write instead and
// keeps redverb's other connections untouched.

// InvalidationSink receives what the masters announce.
type InvalidationSink interface {
	// Invalidate is called with the keys a master announced as changed.
	Invalidate(keys ...[]byte)
	// Flush is called when a master announced that every key changed
	// (FLUSHALL, FLUSHDB).
	Flush()
	// SetLive is false as soon as an announcement may have been missed (a
	// tracking connection dropped, a master with none yet), and true once
	// every master has a tracking connection again.
	SetLive(live bool)
	// Mark returns a mark of the announcements received so far.
	Mark() uint64
}

// trackRetry is how often the masters are checked for a tracking
// connection, and a lost one is dialled again.
const trackRetry = 500 * time.Millisecond

type invalidations struct {
	b        *Backend
	prefixes []string
	sink     InvalidationSink
	kick     chan struct{} // a check now: a tracker died, or a slot moved
	stop     chan struct{}

	mu       sync.Mutex
	trackers map[string]*tracker // by master address
	failing  map[string]failure  // masters that refused or could not be reached
}

// failure is a master's last failed attempt to track its keys.
type failure struct {
	at      time.Time
	refused bool // by the server itself (no tracking, no permission): asked again after retryFailing
}

// retryFailing is how often a master that refused tracking (a server
// without it, or without the permission) is asked again.
const retryFailing = 5 * time.Second

// tracker is one master's tracking connection. Besides announcements it
// carries PINGs, whose replies follow every announcement made before them,
// and reads (TrackedRead), whose replies are ordered with announcements:
// one that comes before a reply was made before the read ran.
type tracker struct {
	addr  string
	c     *Conn
	mu    sync.Mutex     // writes, and the queue
	queue []*TrackedRead // sent, waiting for replies, oldest first
	// One PING is in flight at a time: those who sync while it is answer
	// the next one, sent when it returns, so that syncs share PINGs.
	pinging *TrackedRead
	waiting []chan struct{} // released by the next PING
	dead    chan struct{}   // closed when the connection is lost
}

// A TrackedRead is commands sent on a tracking connection.
type TrackedRead struct {
	Cmds [][]byte
	// Client is how many of Cmds, first, are a client's; MONITOR through
	// redverb leaves the others, redverb's own, out.
	Client int
	Out    []byte // the replies, appended (RESP3)
	Ends   []int  // Ends[i] is len(Out) after reply i
	// Mark is the sink's Mark when the last reply was read: the
	// announcements read before it.
	Mark uint64
	Err  error
	Done chan struct{} // closed when every reply is in, or Err is set
	// waiters are released with a PING's reply.
	waiters []chan struct{}
}

// WatchInvalidations keeps a tracking connection on every master and
// passes what they announce to sink, until Close.
func (b *Backend) WatchInvalidations(prefixes []string, sink InvalidationSink) {
	w := &invalidations{b: b, prefixes: prefixes, sink: sink, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), trackers: map[string]*tracker{}, failing: map[string]failure{}}
	b.mu.Lock()
	b.inval = w
	b.mu.Unlock()
	go w.run()
}

func (w *invalidations) run() {
	tick := time.NewTicker(trackRetry)
	defer tick.Stop()
	for {
		w.check()
		select {
		case <-w.stop:
			w.mu.Lock()
			for _, t := range w.trackers {
				t.c.Close()
			}
			w.mu.Unlock()
			return
		case <-tick.C:
		case <-w.kick:
		}
	}
}

// check makes the trackers match the masters. Announcements are complete
// only while every master has a live tracker; any change of that set
// flushes the sink, whose entries may have missed one.
func (w *invalidations) check() {
	masters, err := w.b.topo.masters()
	w.mu.Lock()
	defer w.mu.Unlock()
	complete := err == nil
	changed := false
	for addr, t := range w.trackers {
		select {
		case <-t.dead:
		default:
			if err == nil && slices.Contains(masters, addr) {
				continue
			}
			t.c.Close() // no longer a master: its replacement is tracked instead
		}
		delete(w.trackers, addr)
		changed = true
	}
	for _, addr := range masters {
		if w.trackers[addr] != nil {
			continue
		}
		changed = true
		last, failed := w.failing[addr]
		if last.refused && time.Since(last.at) < retryFailing {
			complete = false
			continue
		}
		t, err := w.dial(addr)
		if err != nil {
			if !failed {
				w.b.log.Warn("cache: cannot track a master's keys; the cache stays empty until it can", zap.String("node", addr), zap.Error(err))
			}
			var refused ReplyError
			w.failing[addr] = failure{at: time.Now(), refused: errors.As(err, &refused)}
			complete = false
			continue
		}
		if failed {
			w.b.log.Info("cache: tracking a master's keys again", zap.String("node", addr))
			delete(w.failing, addr)
		}
		w.trackers[addr] = t
	}
	if changed || !complete {
		w.sink.SetLive(false)
	}
	if complete {
		w.sink.SetLive(true)
	}
}

// dial opens a tracking connection to a master (RESP3, whose pushes share
// the connection with replies).
func (w *invalidations) dial(addr string) (*tracker, error) {
	n, err := w.b.nodeAt(addr)
	if err != nil {
		return nil, err
	}
	c, err := n.Dial(context.Background(), ConnKey{DB: w.b.DB(), Proto: 3})
	if err != nil {
		return nil, err
	}
	args := [][]byte{[]byte("CLIENT"), []byte("TRACKING"), []byte("ON"), []byte("BCAST")}
	for _, p := range w.prefixes {
		args = append(args, []byte("PREFIX"), []byte(p))
	}
	raw := resp.AppendCommand(nil, args...)
	c.NoteOwn(raw)
	replies, err := c.Pipeline([][]byte{raw}, time.Now().Add(w.b.opts.DialTimeout))
	if err == nil && resp.IsError(replies[0]) {
		err = ReplyError{replies[0]}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	t := &tracker{addr: addr, c: c, dead: make(chan struct{})}
	go w.read(t)
	return t, nil
}

// read passes a tracker's announcements on until its connection drops.
func (w *invalidations) read(t *tracker) {
	var frame []byte
	var err error
	for {
		if frame, err = t.c.ReadFrame(frame[:0]); err != nil {
			break
		}
		if frame[0] != '>' {
			t.answered(frame, w.sink)
			continue
		}
		push := resp.SplitArray(frame)
		if len(push) != 2 || string(resp.Text(push[0])) != "invalidate" {
			continue
		}
		if push[1][0] == '_' || push[1][0] == '*' && push[1][1] == '-' { // a null: every key
			w.sink.Flush()
			continue
		}
		keys := resp.SplitArray(push[1])
		for i := range keys {
			keys[i] = resp.Text(keys[i])
		}
		w.sink.Invalidate(keys...)
	}
	// Announcements may be lost from here: stop the cache before anyone
	// waiting on this tracker goes on.
	w.sink.SetLive(false)
	t.c.Close()
	t.mu.Lock()
	close(t.dead)
	for _, r := range t.queue {
		r.fail(ErrBackend{errors.New("tracking connection lost")})
	}
	for _, ch := range t.waiting {
		close(ch)
	}
	t.queue, t.waiting, t.pinging = nil, nil, nil
	t.mu.Unlock()
	select {
	case <-w.stop:
	default:
		w.b.log.Warn("cache: lost a tracking connection; cache flushed", zap.String("node", t.addr), zap.Error(err))
		w.poke()
	}
}

// answered takes a reply for the oldest request; a PING's releases the
// syncs it answers, and sends the next PING if anyone waits for it.
func (t *tracker) answered(reply []byte, sink InvalidationSink) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.queue) == 0 {
		return
	}
	r := t.queue[0]
	r.Out = append(r.Out, reply...)
	r.Ends = append(r.Ends, len(r.Out))
	if len(r.Ends) < len(r.Cmds) {
		return
	}
	t.queue[0] = nil
	t.queue = t.queue[1:]
	r.Mark = sink.Mark()
	close(r.Done)
	if r != t.pinging {
		return
	}
	for _, ch := range r.waiters {
		close(ch)
	}
	t.pinging = nil
	if len(t.waiting) > 0 {
		t.sendPing(t.waiting)
		t.waiting = nil
	}
}

// ping returns a channel closed once every announcement of a change made
// before the call has been read (or t is lost).
func (t *tracker) ping() chan struct{} {
	ch := make(chan struct{})
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.dead:
		close(ch)
		return ch
	default:
	}
	if t.pinging == nil {
		t.sendPing([]chan struct{}{ch})
	} else {
		t.waiting = append(t.waiting, ch)
	}
	return ch
}

// sendPing sends a PING that releases waiters (t.mu held).
func (t *tracker) sendPing(waiters []chan struct{}) {
	t.pinging = &TrackedRead{Cmds: [][]byte{pingCmd}, Done: make(chan struct{}), waiters: waiters}
	t.sendLocked(t.pinging)
}

// sendLocked queues r and writes its commands (t.mu held).
func (t *tracker) sendLocked(r *TrackedRead) {
	t.c.NoteOwn(r.Cmds[r.Client:]...)
	t.queue = append(t.queue, r)
	var buf []byte
	for _, c := range r.Cmds {
		buf = append(buf, c...)
	}
	if err := t.c.Write(buf); err != nil {
		t.c.Close() // the reader ends, and fails the queue
	}
}

// fail ends r with err, releasing its waiters.
func (r *TrackedRead) fail(err error) {
	r.Err = err
	close(r.Done)
	for _, ch := range r.waiters {
		close(ch)
	}
}

// StartTrackedRead sends r.Cmds on the tracking connection of the master
// serving t, without waiting: r.Done closes when the replies are in. It
// reports false, having sent nothing, when that master has no tracking
// connection; the caller then sends the commands as usual.
func (b *Backend) StartTrackedRead(t Target, r *TrackedRead) bool {
	w := b.watcher()
	if w == nil {
		return false
	}
	n, err := b.nodeFor(t.Master())
	if err != nil {
		return false
	}
	w.mu.Lock()
	tr := w.trackers[n.addr]
	w.mu.Unlock()
	if tr == nil {
		return false
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	select {
	case <-tr.dead:
		return false
	default:
	}
	r.Out, r.Ends, r.Err, r.Done = r.Out[:0], r.Ends[:0], nil, make(chan struct{})
	tr.sendLocked(r)
	return true
}

// TrackingDB is the database of the tracking connections, where tracked
// reads run.
func (b *Backend) TrackingDB() int { return b.DB() }

var pingCmd = resp.AppendCommand(nil, []byte("PING"))

// SyncInvalidations returns once every master's announcements of changes
// made before the call have reached the sink (or its tracker was lost,
// which makes the sink not live): after a write whose keys redverb cannot
// name (a script, EXEC), the writer then reads its own write.
func (b *Backend) SyncInvalidations() {
	w := b.watcher()
	if w == nil {
		return
	}
	w.mu.Lock()
	waits := make([]chan struct{}, 0, len(w.trackers))
	for _, t := range w.trackers {
		waits = append(waits, t.ping())
	}
	w.mu.Unlock()
	for _, ch := range waits {
		<-ch
	}
}

// trackersChanged asks for a check of the trackers now (a slot moved: a
// new master may serve it).
func (b *Backend) trackersChanged() {
	if w := b.watcher(); w != nil {
		w.poke()
	}
}

// poke asks for a check of the trackers now, unless one is asked already.
func (w *invalidations) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// watcher is the invalidations WatchInvalidations started, or nil.
func (b *Backend) watcher() *invalidations {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inval
}

// close ends the trackers.
func (w *invalidations) close() {
	if w != nil {
		close(w.stop)
	}
}
