package proxy

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/verb"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/internal/stats"
	"go.uber.org/zap"
)

// Session is one client connection and the Redis connection state the
// client believes it has: selected database, protocol, authentication,
// name, and a dedicated backend connection while it needs one.
type Session struct {
	srv      *Server
	id       uint64
	nc       net.Conn
	in       *input
	out      []byte // replies not yet written to the client
	nameBuf  []byte
	*scratch // while commands run; nil while the client is idle
	// lastTarget is where the client's last keyed command went: on a
	// cluster, WAIT asks that master about its replicas.
	lastTarget backend.Target

	db       int
	proto    protocol
	authed   atomic.Bool
	name     string
	libName  string
	libVer   string
	created  time.Time
	lastSeen atomic.Int64 // unix nanoseconds of the last command
	info     atomic.Pointer[clientInfo]
	lastCmd  atomic.Pointer[string] // CLIENT LIST's cmd=
	mem      sessionMem

	ded        *backend.Conn // dedicated backend connection, while the client needs one
	tx         transaction   // MULTI and WATCH (see transaction.go)
	sub        *subscriber
	quit       bool
	blocked    blockState    // the backend connection a blocking command waits on
	killed     atomic.Bool   // by CLIENT KILL
	replies    replyMode     // CLIENT REPLY
	user, pass string        // the backend identity AUTH gave (--auth backend only)
	track      trackingState // CLIENT TRACKING (see tracking.go)
	cacheTx    cacheTx       // with a cache: what MULTI's queued commands will write
	fl         flights       // batches sent and not yet answered (see stream.go)
	// streamIDs are the backend's CLIENT IDs of a subscribed session's
	// connections, per master, for other clients' CLIENT TRACKING
	// REDIRECT; nil when not streaming.
	streamIDs atomic.Pointer[map[*backend.Node]int64]
	reserved  reservedStream // see reservedStream.reserve
	// writeMu keeps a reply and a push relayed from a reserved connection
	// (relayPushes) from interleaving on the client's socket.
	writeMu     sync.Mutex
	hungUp      bool  // the connection was closed by the proxy (guarded by the parker's mutex)
	hotTick     uint8 // counts commands, for sampling hot keys
	noEvict     bool  // CLIENT NO-EVICT
	noTouch     bool  // CLIENT NO-TOUCH
	replyChosen bool  // the command running was CLIENT REPLY, which decides its own reply
}

// scratch is what a session needs only while it runs commands. An idle
// client drops it (see Session.shrink), for the memory idle clients cost.
type scratch struct {
	req      backend.Request
	routing  backend.Routing
	inBatch  []batchVerb // verbs sent as FCALL in the batch being run
	fcallBuf []byte      // their encoded calls
	rebuf    []byte      // spare output buffer, for rewriting a batch's replies
	callBuf  []byte      // the verb call being sent (EVALSHA ...)

	// With a cache (see cache.go): the batch's hits after its first sent
	// command, its fills, and buffers for entry ids, PTTLs and keys.
	hits       []cachedHit
	hitBuf     []byte
	cacheFills []cacheFill
	pttlBuf    []byte
	fillCmds   [][]byte
	cb         cacheBatch
	idBuf      []byte
	keysBuf    [][]byte
}

func newScratch(limit int) *scratch {
	sc := &scratch{}
	sc.req.Done = make(chan struct{}, 1)
	sc.req.Limit = limit
	return sc
}

// replyMode is what CLIENT REPLY set: the proxy drops the replies the
// client asked not to get; the commands run as usual.
type replyMode uint8

const (
	repliesOn   replyMode = iota
	repliesOff            // until CLIENT REPLY ON
	repliesSkip           // for the next command only
)

var errClientGone = errors.New("client went away")

var clientIDCmd = resp.AppendCommand(nil, []byte("CLIENT"), []byte("ID"))

func newSession(srv *Server, id uint64, nc net.Conn) *Session {
	s := &Session{
		srv:        srv,
		id:         id,
		nc:         nc,
		db:         srv.Backend.DB(),
		proto:      2,
		created:    time.Now(),
		nameBuf:    make([]byte, 0, 32),
		lastTarget: backend.NoSlot,
	}
	s.track.s, s.tx.s = s, s
	s.fl.cond.L = &s.fl.mu
	s.tx.reset()
	s.authed.Store(srv.RequirePass == "")
	s.in = newInput(nc, func() bool { return !s.authed.Load() })
	s.in.queryLimit = srv.queryBufferLimit()
	s.scratch = newScratch(srv.clientOutputLimit())
	s.lastSeen.Store(time.Now().UnixNano())
	return s
}

// serve reads pipelines from the client until it leaves, the proxy shuts
// down, or the client breaks the protocol.
func (s *Session) serve() {
	if s.loop() {
		s.shrink()
		if s.plain() && s.srv.parker.park(s) {
			s.srv.log.Debug("idle client parked", zap.Uint64("id", s.id))
			return
		}
		s.srv.log.Debug("idle client moved to a fresh goroutine", zap.Uint64("id", s.id))
		go s.serve() // a small stack again (see idle.go)
		return
	}
	s.close()
}

// loop serves commands until the session ends, or reports that it should
// go on in a fresh goroutine.
func (s *Session) loop() (moved bool) {
	defer func() {
		// A bug in handling one client must not take the proxy down.
		if r := recover(); r != nil {
			s.srv.log.Error("client session failed", zap.Uint64("id", s.id), zap.Any("panic", r), zap.Stack("stack"))
			moved = false
		}
	}()
	for !s.srv.draining.Load() {
		cmds, err := s.in.readCommands()
		if err == errShed {
			return true
		}
		for _, c := range s.track.conns {
			trackerOf(c).begin() // until its replies are written, pushes wait behind them
		}
		if err != nil {
			if s.drain() {
				return false
			}
			switch {
			case isProtocolError(err):
				counters.Count(stats.ErrProtocol)
				s.out = resp.AppendError(s.out, "ERR "+err.Error())
				s.flush()
			case err == errQueryBuffer:
				counters.Count(stats.ErrQueryBuffer)
				s.srv.log.Warn("Closing client that reached max query buffer length: " + strings.TrimSpace(s.describe(time.Now(), nil)))
			}
			return
		}
		now := time.Now()
		s.lastSeen.Store(now.UnixNano())
		if s.scratch == nil {
			s.scratch = newScratch(s.srv.clientOutputLimit())
		}
		t := s.srv.commands()
		for i := range cmds {
			s.nameBuf = t.classify(&cmds[i], s.nameBuf)
			s.noteCommand(&cmds[i], now)
		}
		if n := s.streamable(cmds); n > 0 && s.stream(cmds[:n]) {
			if cmds = cmds[n:]; len(cmds) == 0 {
				continue
			}
		}
		if s.drain() {
			return false
		}
		s.run(cmds)
		s.overLimit()
		s.publishInfo()
		s.publishMem(len(s.out))
		if err := s.flush(); err != nil || s.quit {
			return false
		}
		s.mem.out.Store(0)
		for _, c := range s.track.conns {
			trackerOf(c).end()
		}
	}
	return false
}

// overLimit reports whether the replies waiting for the client passed the
// output limit; if so it logs Redis's message and the client is dropped.
func (s *Session) overLimit() bool {
	if !s.req.Overflow && (s.req.Limit == 0 || len(s.out) <= s.req.Limit) {
		return false
	}
	s.outputLimitPassed()
	s.out, s.quit, s.req.Overflow = nil, true, false
	return true
}

// outputLimitPassed counts and logs, as Redis does, a client dropped for
// the replies waiting for it.
func (s *Session) outputLimitPassed() {
	counters.Count(stats.ErrOutputLimit)
	s.srv.log.Warn("Client " + strings.TrimSpace(s.describe(time.Now(), nil)) +
		" scheduled to be closed ASAP for overcoming of output buffer limits.")
}

func (s *Session) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	s.writeMu.Lock()
	n, err := s.nc.Write(s.out)
	s.writeMu.Unlock()
	counters.BytesOut.Add(int64(n))
	if cap(s.out) > 64<<10 {
		s.out = nil // do not keep a huge reply's buffer for an idle client
	} else {
		s.out = s.out[:0]
	}
	return err
}

// run answers a pipeline in order, sending runs of ordinary commands to the
// backend as one batch.
func (s *Session) run(cmds []command) {
	for len(cmds) > 0 && !s.quit && !s.overLimit() {
		start := time.Now()
		var n int
		switch {
		case s.sub != nil:
			n = s.runStreaming(cmds)
		case s.replies == repliesOn:
			n = s.step(cmds)
		default:
			n = s.stepQuietly(cmds[:1])
		}
		if s.srv.Cache != nil {
			s.invalidateAfter(cmds[:n])
		}
		s.count(cmds[:n], time.Since(start))
		cmds = cmds[n:]
	}
}

// count adds commands that ran together, and took d, to the counters.
func (s *Session) count(cmds []command, d time.Duration) {
	for i := range cmds {
		cmds[i].spec.counter().Observe(d)
	}
	if len(cmds) > 1 {
		s.setLastCmd(&cmds[len(cmds)-1])
	}
}

// stepQuietly runs one command under CLIENT REPLY OFF or SKIP and drops its
// reply, unless the command is CLIENT REPLY itself.
func (s *Session) stepQuietly(cmd []command) int {
	mode, start := s.replies, len(s.out)
	s.replyChosen = false
	n := s.step(cmd)
	if s.replyChosen {
		return n
	}
	s.out = s.out[:start]
	if mode == repliesSkip {
		s.replies = repliesOn
	}
	return n
}

// step runs the commands at the front of cmds that share a route and
// returns how many it consumed.
func (s *Session) step(cmds []command) int {
	c := &cmds[0]
	args, r := c.args, c.kind
	s.setLastCmd(c)
	if !s.authed.Load() && c.spec.flags&beforeAuth == 0 {
		s.out = resp.AppendError(s.out, "NOAUTH Authentication required.")
		return 1
	}
	if s.track.enabled && r == kindSubscribe {
		s.out = resp.AppendError(s.out, "ERR redverb does not run pub/sub on a client with CLIENT TRACKING on; subscribe on another connection")
		return 1
	}
	if r != kindLocal && s.answerBusy(c) {
		return 1
	}
	if r == kindShared && s.ded == nil && c.spec.flags&heldByPause != 0 && s.srv.Backend.WritesPaused() {
		// Paused, it would hold every other client's commands on the
		// shared connection; on its own it waits alone, as on Redis.
		s.runBlocking(cmds[0], waitBlocked)
		return 1
	}
	if s.ded != nil && !s.tx.inMulti && r == kindSubscribe {
		return s.startStreaming(cmds)
	}
	if s.ded != nil && r != kindLocal && !s.track.wholeServer(c) {
		return s.runDedicated(cmds)
	}
	switch r {
	case kindLocal:
		if s.ded != nil && c.spec.name == "select" {
			return s.runDedicated(cmds)
		}
		if s.tx.inMulti && c.spec.flags&refusedInMulti != 0 {
			s.tx.abort("ERR Command not allowed inside a transaction")
			return 1
		}
		if s.tx.inMulti && c.spec.flags&atOnceInMulti == 0 {
			s.tx.queueLocal(c)
			return 1
		}
		c.spec.local(s, args)
		return 1
	case kindTx:
		return s.runDedicated(cmds)
	case kindSubscribe:
		return s.startStreaming(cmds)
	case kindBlocking:
		s.runBlocking(cmds[0], waitBlocked)
		return 1
	case kindUnbounded:
		s.runBlocking(cmds[0], waitLong)
		return 1
	case kindOutOfBand:
		s.runOutOfBand(args...)
		return 1
	case kindClusterWide:
		c.runWide(s)
		return 1
	}
	return s.runShared(cmds)
}

func (s *Session) key() backend.ConnKey {
	return backend.ConnKey{DB: s.db, Proto: int(s.proto), AsClient: s.srv.Backend.AuthClients(), User: s.user, Pass: s.pass}
}

// runShared sends the leading run of ordinary commands as one batch on the
// session's shared connection. The backend can lose a verb's function at
// any moment (a FUNCTION FLUSH sent to it directly, a restart), and then
// the call fails and must be loaded and run again; had the client's next
// commands already been sent behind it, they would have run before it.
// Nothing in Redis runs a command only if the one before it succeeded, so
// a verb with more of its client's commands behind it in the batch goes
// as EVAL with its compact body (which cannot find the script missing),
// and only a batch's last verb as FCALL. A verb that runs as a script
// with EVALSHA (a backend without functions, a call that may wait or takes
// steps) ends the batch, so that what follows it waits for its result.
func (s *Session) runShared(cmds []command) int {
	req, rt := &s.req, &s.routing
	req.Cmds, rt.Targets = req.Cmds[:0], rt.Targets[:0]
	s.inBatch = s.inBatch[:0]
	n, alone := 0, false
	var call *verb.Call
	var callErr error
	cb := &s.cb
	cb.reset(s.srv.Cache != nil)
	for n < len(cmds) && !alone {
		c := &cmds[n]
		if c.kind != kindShared && c.kind != kindVerb {
			break
		}
		t := s.srv.Backend.TargetOf(c.spec.keys, c.args)
		if cb.on {
			done, stop := s.admit(cb, c, n, t)
			if stop {
				break
			}
			if done {
				n++
				continue
			}
		}
		raw := c.raw
		if c.kind == kindVerb {
			counters.VerbCalls.Add(1)
			call, callErr = s.resolve(c, true)
			if s.asFunction(call, callErr) {
				start := len(s.fcallBuf)
				s.fcallBuf = call.AppendCompactEval(s.fcallBuf)
				s.inBatch = append(s.inBatch, batchVerb{index: n, call: call, start: start, end: len(s.fcallBuf)})
				raw, t, call = nil, s.srv.Backend.CallTarget(call), nil // raw is set once fcallBuf stops growing
			} else {
				alone = true
			}
		}
		req.Cmds, rt.Targets = append(req.Cmds, raw), append(rt.Targets, t)
		if t != backend.NoSlot {
			s.lastTarget = t
		}
		n++
	}
	if last := len(s.inBatch) - 1; last >= 0 && s.inBatch[last].index == n-1 && !alone {
		// Nothing of the client's follows it: FCALL, the cheapest call,
		// reloaded and run again in order if its function is missing.
		v := &s.inBatch[last]
		v.start = len(s.fcallBuf)
		s.fcallBuf = v.call.AppendFCall(s.fcallBuf)
		v.end, v.fcall = len(s.fcallBuf), true
	}
	for _, v := range s.inBatch {
		req.Cmds[v.index] = s.fcallBuf[v.start:v.end]
	}
	if alone {
		if callErr != nil {
			req.Cmds = req.Cmds[:n-1] // refused: it never reaches the backend
		} else {
			s.callBuf = call.AppendCall(s.callBuf[:0], false)
			req.Cmds[n-1] = s.callBuf
			rt.Targets[n-1] = s.srv.Backend.CallTarget(call)
		}
	}
	var woken chan struct{}
	if call != nil && call.Retry != nil {
		var done func()
		woken, done = s.srv.wake.register(call.WakeChannel, call.Wake)
		defer done()
	}
	s.sendShared()
	if len(s.inBatch) > 0 && !req.Overflow {
		s.finishFunctions()
	}
	s.fcallBuf = s.fcallBuf[:0]
	if len(s.hits) > 0 || len(s.cacheFills) > 0 {
		if !req.Overflow {
			s.finishCached(cmds[:n], cb.lead, cb.now)
		}
		s.endCached()
	}
	for i, c := range cmds[:min(len(req.Cmds), n)] { // a refused verb, last, has no reply here
		if !req.Overflow && c.spec.flags&addsProxyInfo != 0 {
			finishInfo(s, i, c.args)
		}
	}
	switch {
	case callErr != nil:
		s.out = appendCommandError(s.out, callErr)
	case call != nil && !req.Overflow:
		start := req.Start(len(req.Cmds) - 1)
		again, repair := s.sharedAttempts(start)
		if repair(call) {
			s.finishVerb(call, start, woken, again)
		}
	}
	clear(req.Cmds)
	return n
}

// sendShared sends s.req.cmds (to s.routing.targets) on shared connections
// and appends the replies to s.out (error replies if the backend is down).
func (s *Session) sendShared() {
	req := &s.req
	req.Out = s.out
	if len(req.Cmds) > 0 {
		s.srv.Backend.Do(s.key(), s.id, req, &s.routing)
	} else {
		req.Base, req.Ends = len(s.out), req.Ends[:0]
	}
	s.out = req.Out
}

// forward sends one command to the backend as it is, whatever its name.
func (s *Session) forward(args ...[]byte) {
	s.req.Cmds = append(s.req.Cmds[:0], resp.AppendCommand(nil, args...))
	s.routing.Targets = append(s.routing.Targets[:0], s.srv.Backend.TargetOf(s.srv.commands().lookup(args).spec.keys, args))
	s.sendShared()
	clear(s.req.Cmds)
}

// errTakesSteps refuses, inside MULTI, a call that takes more than one
// script (see verb.Call.Then): its steps would only run at EXEC.
var errTakesSteps = errors.New("redverb emulates this command in steps on this backend, which cannot run inside MULTI")

// errCrossSlot is Redis Cluster's own refusal of keys in different slots.
var errCrossSlot = errors.New("CROSSSLOT Keys in request don't hash to the same slot")

// resolve prepares a verb call; on a cluster backend its keys must share a
// slot, checked here so that nothing reaches the backend otherwise.
func (s *Session) resolve(c *command, mayWait bool) (*verb.Call, error) {
	call, err := c.spec.verb.Resolve(c.args, mayWait)
	if err == nil && len(call.Keys) > 1 && !keyslot.SameSlot(call.Keys) && s.srv.Backend.KeysMustShareSlot(context.Background()) {
		return nil, errCrossSlot
	}
	return call, err
}

// appendCommandError answers a command the proxy refused before sending it.
func appendCommandError(dst []byte, err error) []byte {
	counters.Count(stats.ErrVerbRefused)
	if errors.Is(err, errCrossSlot) {
		return resp.AppendError(dst, err.Error())
	}
	return resp.AppendError(dst, "ERR "+err.Error())
}

// runBlocking runs a command that may block, or run for as long as it
// likes, on a connection of its own, so it never holds up the shared ones.
// On a cluster it follows MOVED and ASK as the shared path does: a slot
// that moves while the command waits unblocks it with a redirect.
func (s *Session) runBlocking(cmd command, w wait) {
	b := s.srv.Backend
	t := b.TargetOf(cmd.spec.keys, cmd.args).Master()
	n, err := b.Master(int(t))
	start := len(s.out)
	s.runBlockingOn(n, err, cmd, w, false)
	if t == backend.NoSlot && w == waitLong && b.SeveralServers() && ranElsewhere(s.out[start:]) {
		s.runOnOtherMasters(n, cmd, start)
	}
}

// A script that declares no keys may still name keys in its body, which
// one Redis serves wherever they are; on a cluster it runs on one master
// and fails with errNonLocal at its first key that lives elsewhere (or
// with NOSCRIPT where its SHA was never cached). Until then it touched no
// key: every key it reaches first is on another master. So it is run on
// the other masters in turn, and the first answer that is not one of these
// two is the client's. Only what a script does before its first key
// (PUBLISH, say) can happen more than once.
var (
	errNonLocal = []byte("-ERR Script attempted to access a non local key")
	errNoScript = []byte("-NOSCRIPT")
)

func ranElsewhere(reply []byte) bool {
	return bytes.HasPrefix(reply, errNonLocal) || bytes.HasPrefix(reply, errNoScript)
}

// runOnOtherMasters runs cmd, which first answered s.out[start:] on tried,
// on each other master until one answers otherwise. If none does, the
// client gets the first errNonLocal answer, else the first one.
func (s *Session) runOnOtherMasters(tried *backend.Node, cmd command, start int) {
	first := bytes.Clone(s.out[start:])
	masters, err := s.srv.Backend.Masters()
	if err != nil {
		return
	}
	for _, n := range masters {
		if n == tried {
			continue
		}
		s.out = s.out[:start]
		s.runBlockingOn(n, nil, cmd, waitLong, true)
		reply := s.out[start:]
		if !ranElsewhere(reply) {
			return
		}
		if bytes.HasPrefix(reply, errNonLocal) && !bytes.HasPrefix(first, errNonLocal) {
			first = bytes.Clone(reply)
		}
	}
	s.out = append(s.out[:start], first...)
}

// runBlockingAt is runBlocking on the master serving t.
func (s *Session) runBlockingAt(t backend.Target, cmd command, w wait) {
	n, err := s.srv.Backend.Master(int(t))
	s.runBlockingOn(n, err, cmd, w, false)
}

// runBlockingOn is runBlocking on node n (or err, when finding it failed).
// A retry is hidden from MONITOR, which showed the command where it
// first ran.
func (s *Session) runBlockingOn(n *backend.Node, err error, cmd command, w wait, retry bool) {
	b := s.srv.Backend
	if w == waitLong && cmd.spec.flags&(runsScript|runsFunction) != 0 {
		defer b.ScriptStarted(cmd.spec.flags&runsFunction != 0)()
	}
	start := len(s.out)
	var reply []byte
	if err == nil {
		reply, err = b.OnHeld(n, s.key(), cmd.raw, retry, func(c *backend.Conn, raws [][]byte) ([]byte, error) {
			s.out = s.out[:start]
			if err := s.exchange(c, raws, w, nil); err != nil {
				return nil, errReplied
			}
			return s.out[start:], nil
		})
	}
	switch {
	case err == errReplied: // exchange answered the failure
	case err != nil:
		s.out = appendBackendError(s.out[:start], err)
	default:
		s.out = append(s.out[:start], reply...)
	}
}

// errReplied is a failure already answered to the client.
var errReplied = errors.New("answered")

// runDedicated sends commands on the session's own backend connection,
// taking one if needed, and follows MULTI/WATCH state through the replies.
// The connection goes back to the pool as soon as no state is left on it.
func (s *Session) runDedicated(cmds []command) int {
	if !s.ensureDedicated(s.tx.pinTarget(&cmds[0])) {
		return 1
	}
	n, w := 0, waitNone
	var steps *verb.Call // a call that takes steps, run alone
	var converts []func([]byte) []byte
	names := make([]string, 0, len(cmds))
	raws := make([][]byte, 0, len(cmds))
	for n < len(cmds) {
		c := &cmds[n]
		name, r := c.spec.name, c.kind
		if n > 0 && name != "select" && (r == kindLocal || r == kindSubscribe) {
			break
		}
		// A transaction or a WATCH holds its master; a tracking client's
		// other commands each go to their key's master.
		holds := !s.track.enabled || s.tx.inMulti || s.tx.watching || name == "watch"
		if t := s.tx.pinTarget(c); t != backend.NoSlot && !s.tx.pinned && (holds || !s.tx.onDedicatedNode(t)) {
			if n > 0 {
				break // pin before this command, at the start of the next batch
			}
			if !s.tx.pin(t, holds) {
				return 1
			}
		}
		var call *verb.Call
		var callErr error
		if r == kindVerb {
			call, callErr = s.resolve(c, false)
			if callErr == nil && call.Then != nil && !s.tx.inMulti {
				if n == 0 {
					steps, n = call, 1
				}
				break // after what precedes it, alone
			}
		}
		if !s.tx.inMulti && r == kindBlocking {
			w = waitBlocked
		} else if !s.tx.inMulti && r == kindUnbounded && w == waitNone {
			w = waitLong
		}
		names = append(names, name)
		raw := c.raw
		var convert func([]byte) []byte
		if r == kindVerb {
			raw, convert = s.dedicatedVerb(call, callErr)
		}
		raws = append(raws, raw)
		converts = append(converts, convert)
		n++
	}
	var err error
	s.track.placeCaching()
	if steps != nil {
		err = s.runSteps(steps)
	} else {
		err = s.exchange(s.ded, raws, w, func(i int, start int) {
			s.tx.crossNode(names[i], cmds[i].args, start)
			s.tx.finish(names[i], start, converts[i])
			s.tx.follow(names[i], cmds[i].args, s.out[start:])
			s.tx.recordUnpinned(names[i], raws[i])
		})
	}
	if err != nil {
		s.dropDedicated()
		return n
	}
	switch {
	case s.tx.inMulti || s.tx.watching:
	case s.track.enabled:
		s.tx.pinned = false // the next command picks its master's tracked connection
	default:
		s.ded.Give()
		s.ded, s.tx.pinned, s.tx.unpinned = nil, false, nil
	}
	return n
}

// dedicatedVerb encodes a verb for a dedicated connection as EVAL with the
// script's body. A NOSCRIPT could not be repaired in order there: inside
// MULTI the EVALSHA would fail at EXEC while the rest of the transaction
// commits. A refused call is sent as a bare EVAL, which the backend refuses
// at queue time, so a transaction is aborted as Redis aborts one after a
// bad command; the client sees the verb's own error.
func (s *Session) dedicatedVerb(call *verb.Call, err error) ([]byte, func([]byte) []byte) {
	counters.VerbCalls.Add(1)
	if err == nil && call.Then != nil {
		err = errTakesSteps
	}
	if err != nil {
		refusal := appendCommandError(nil, err)
		return resp.AppendCommand(nil, []byte("EVAL")), func([]byte) []byte { return refusal }
	}
	return call.AppendCall(nil, true), s.converter(call)
}

// runSteps runs a call that takes steps (verb.Call.Then) on the session's
// dedicated connection (WATCH or CLIENT TRACKING holds it), one step after
// the other, each as EVAL with the script's body (NOSCRIPT cannot happen).
func (s *Session) runSteps(call *verb.Call) error {
	counters.VerbCalls.Add(1)
	start := len(s.out)
	var err error
	again := func(call *verb.Call) bool {
		s.out = s.out[:start]
		err = s.exchange(s.ded, [][]byte{call.AppendCall(nil, true)}, waitNone, nil)
		return err == nil
	}
	if again(call) {
		s.finishVerb(call, start, nil, again)
	}
	return err
}

// dropDedicated closes the session's dedicated connection after a failure;
// whatever transaction (or tracking) it held is gone with it, as Redis does
// for a client whose connection drops.
func (s *Session) dropDedicated() {
	if s.ded != nil {
		s.ded.Close()
		s.ded = nil
	}
	if s.track.enabled {
		// Invalidations may have been lost: the client must drop its
		// cache, as it does when its own connection drops.
		s.quit = true
	}
	s.track.close()
	s.tx.reset()
}

// quickReply is how long a command that may run for long (a script) is
// waited for before the client is watched too: most scripts answer well
// within it, and skip the watcher's goroutines.
const quickReply = 2 * time.Millisecond

// wait says how long a command may keep its backend connection.
type wait uint8

const (
	waitNone    wait = iota // a command of bounded cost
	waitLong                // may run for long (a script, DEBUG SLEEP)
	waitBlocked             // blocks for data (BLPOP): the client counts as blocked, and CLIENT UNBLOCK reaches it
)

// exchange writes raws to c and appends one reply per command to s.out,
// calling each (if set) with the index and start in s.out of every reply.
// When the commands may wait, it also watches the client: if the client
// disconnects meanwhile, the backend connection is closed so the waiting
// command is abandoned, not leaked.
func (s *Session) exchange(c *backend.Conn, raws [][]byte, w wait, each func(i, start int)) error {
	// CLIENT UNBLOCK needs the backend's id of a blocking command's
	// connection: asked in the same write as the command, which so reaches
	// Redis without waiting a round trip (another client's command sent
	// just after it must not overtake it).
	var wbuf []byte
	askID := w == waitBlocked && c.ID == 0 && c.Tracker == nil
	if askID {
		wbuf = append(wbuf, clientIDCmd...)
		c.NoteOwn(clientIDCmd)
	} else if w == waitBlocked {
		s.blocked.set(c)
	}
	if w == waitBlocked {
		defer s.blocked.set(nil)
	}
	for _, r := range raws {
		wbuf = append(wbuf, r...)
	}
	if err := c.Write(wbuf); err != nil {
		s.failReplies(len(raws), err)
		return err
	}
	if askID {
		reply, err := c.ReadReply(nil)
		if err != nil {
			s.failReplies(len(raws), err)
			return err
		}
		c.ID = int64(resp.Int(reply))
		s.blocked.set(c)
	}
	read := func() (int, error) {
		for i := range raws {
			start := len(s.out)
			var err error
			if s.out, err = c.ReadReply(s.out); err != nil {
				s.out = s.out[:start]
				return i, err
			}
			if each != nil {
				each(i, start)
			}
		}
		return len(raws), nil
	}
	if w == waitNone || w == waitLong && len(raws) == 1 && c.Tracker == nil && c.RepliesWithin(quickReply) {
		got, err := read()
		if err != nil {
			s.failReplies(len(raws)-got, err)
		}
		return err
	}
	type result struct {
		got int
		err error
	}
	done := make(chan result, 1)
	gone, stop := s.in.watchClosed()
	defer stop()
	go func() {
		got, err := read()
		done <- result{got, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			s.failReplies(len(raws)-r.got, r.err)
		}
		return r.err
	case <-gone:
		c.Close()
		<-done
		s.quit = true
		return errClientGone
	}
}

func (s *Session) failReplies(n int, err error) {
	if errors.Is(err, net.ErrClosed) {
		err = errors.New("connection closed")
	}
	for i := 0; i < n; i++ {
		s.out = appendBackendError(s.out, backend.ErrBackend{Err: err})
	}
}

func appendBackendError(dst []byte, err error) []byte {
	var re backend.ReplyError
	if errors.As(err, &re) {
		return append(dst, re.Reply...)
	}
	counters.Count(stats.ErrBackend)
	var be backend.ErrBackend
	if !errors.As(err, &be) {
		err = backend.ErrBackend{Err: err}
	}
	return resp.AppendError(dst, "ERR "+err.Error())
}

// ensureDedicated gives the session a backend connection of its own, on
// the master serving t. If none can be had, it answers the command with the
// error and reports false.
func (s *Session) ensureDedicated(t backend.Target) bool {
	if s.ded != nil {
		return true
	}
	c, err := s.srv.Backend.Take(context.Background(), s.key(), int(t))
	if err != nil {
		s.out = appendBackendError(s.out, err)
		return false
	}
	s.ded, s.tx.pinned = c, t != backend.NoSlot
	return true
}

// releaseDedicated ends pub/sub mode and gives the dedicated connection
// back. A connection left inside MULTI or WATCH (a client that vanished
// mid-transaction) is closed rather than lent to someone else.
func (s *Session) releaseDedicated() {
	if s.sub != nil {
		s.endStreaming()
	}
	if s.ded != nil {
		if s.tx.inMulti || s.tx.watching || s.track.enabled {
			s.ded.Close()
		} else {
			s.ded.Give()
		}
		s.ded = nil
	}
	s.track.close()
	s.tx.reset()
}

// close releases everything the session holds.
func (s *Session) close() {
	s.drain() // a client that closed only its sending side still reads its replies
	if c := s.reserved.take(); c != nil {
		c.Close()
	}
	s.releaseDedicated()
	s.nc.Close()
	s.srv.log.Debug("client closed", zap.Uint64("id", s.id))
	s.srv.forget(s) // last: Shutdown returns once every session is forgotten
}
