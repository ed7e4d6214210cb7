package proxy

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/verb"

	"go.uber.org/zap"

	"github.com/redverb/redverb/internal/resp"
)

// maxReloads bounds how often one call reloads its script; a backend that
// keeps forgetting it (SCRIPT FLUSH in a loop) still gets a bounded number
// of tries before the client sees the error.
const maxReloads = 5

// ScriptReloads reports how many times the proxy reloaded a script after
// the backend answered NOSCRIPT.
func ScriptReloads() int64 { return counters.ScriptReloads.Load() }

// converter returns how to rewrite a call's reply for this client, or nil.
func (s *Session) converter(call *verb.Call) func([]byte) []byte {
	if !call.PairsReply || s.proto != 3 {
		return call.Convert
	}
	return func(reply []byte) []byte {
		if call.Convert != nil {
			reply = call.Convert(reply)
		}
		return pairsAsMap(reply)
	}
}

// pairsAsMap turns a flat array of field/value pairs into a RESP3 map.
func pairsAsMap(reply []byte) []byte {
	elems := resp.SplitArray(reply)
	if elems == nil || reply[0] != '*' || len(elems)%2 != 0 {
		return reply
	}
	out := resp.AppendHeader(nil, '%', len(elems)/2)
	for _, e := range elems {
		out = append(out, e...)
	}
	return out
}

func isNoScript(reply []byte) bool { return bytes.HasPrefix(reply, []byte("-NOSCRIPT")) }

// A verb call is completed the same way whichever path it took: its
// script reloaded if the backend forgot it, run again while it asks to
// (LOCK ... WAIT), continued while it takes steps (a stand-in's digest
// condition), and its final reply converted. Only how one attempt is sent
// differs: an attempt is EVALSHA on the shared connections, or EVAL with
// the script's body on a connection the client holds (where NOSCRIPT
// cannot happen).

// verbAttempt runs call once, its reply replacing s.out[start:]; false if
// the path broke (the client is being disconnected, or its connection
// lost), which ends the call.
type verbAttempt func(call *verb.Call) bool

// finishVerb completes a verb whose first reply sits at s.out[start:] (see
// above), waking early for a retry when woken is signalled.
func (s *Session) finishVerb(call *verb.Call, start int, woken chan struct{}, again verbAttempt) {
	reply := func() []byte { return s.out[start:] }
	if call.Retry != nil {
		gone, stop := s.in.watchClosed()
		defer stop()
		unblock := s.blocked.waitInProxy()
		defer s.blocked.set(nil)
	retries:
		for {
			more, wait := call.Retry(reply())
			left := time.Until(call.Deadline)
			if !more || left <= 0 {
				break
			}
			timer := time.NewTimer(min(wait, left))
			select {
			case <-woken:
			case <-timer.C:
			case <-gone:
				timer.Stop()
				s.quit = true
				return
			case reason := <-unblock:
				// CLIENT UNBLOCK: TIMEOUT answers as the wait's timeout
				// would (the last attempt's reply), ERROR as Redis does.
				timer.Stop()
				if reason == "error" {
					s.out = resp.AppendError(s.out[:start], "UNBLOCKED client unblocked via CLIENT UNBLOCK")
				}
				break retries
			}
			timer.Stop()
			if !again(call) {
				return
			}
		}
	}
	for call.Then != nil {
		next, final := call.Then(reply())
		if next == nil {
			s.out = append(s.out[:start], s.proto.asProto(final)...)
			return
		}
		call = next
		if !again(call) {
			return
		}
	}
	if convert := s.converter(call); convert != nil && !resp.IsError(reply()) {
		s.out = append(s.out[:start], convert(reply())...)
	}
}

// sharedAttempts run a verb's calls on the shared connections, as EVALSHA
// to the server of its keys; repair mends the first reply, which came in
// the client's batch. A NOSCRIPT is repaired: on a cluster the
// script is loaded on every master first (the call may be redirected, by
// ASK mid-migration or MOVED after a failover, to a server other than the
// one that answered NOSCRIPT); then the call's own server gets SCRIPT LOAD
// and the call in one batch, so that a SCRIPT FLUSH can hardly come
// between.
func (s *Session) sharedAttempts(start int) (again, repair verbAttempt) {
	send := func(call *verb.Call, cmds ...[]byte) {
		s.req.Cmds = append(s.req.Cmds[:0], cmds...)
		s.routing.Targets = s.routing.Targets[:0]
		t := s.srv.Backend.CallTarget(call)
		for range cmds {
			s.routing.Targets = append(s.routing.Targets, t)
		}
		s.sendShared()
	}
	reload := func(call *verb.Call) bool {
		for i := 0; i < maxReloads && isNoScript(s.out[start:]) && !s.req.Overflow; i++ {
			counters.ScriptReloads.Add(1)
			s.srv.log.Info("backend answered NOSCRIPT; loading the verb's script", zap.String("sha", call.SHA))
			load := [][]byte{[]byte("SCRIPT"), []byte("LOAD"), []byte(call.Script)}
			if s.srv.Backend.Redirects() {
				onMasters(s, load)
			}
			s.out = s.out[:start]
			s.callBuf = call.AppendCall(s.callBuf[:0], false)
			send(call, resp.AppendCommand(nil, load...), s.callBuf)
			s.out = append(s.out[:start], s.req.Reply(1)...)
		}
		return !s.req.Overflow
	}
	again = func(call *verb.Call) bool {
		s.out = s.out[:start]
		s.callBuf = call.AppendCall(s.callBuf[:0], false)
		send(call, s.callBuf)
		return reload(call)
	}
	return again, reload
}

// wakeups lets sessions wait for a message on a pub/sub channel (LOCK
// ... WAIT waits for UNLOCK's release notice) over one shared subscription,
// so waiting holds no backend connection of its own and never polls.
type wakeups struct {
	b   *backend.Backend
	log *zap.Logger

	mu      sync.Mutex
	conn    *backend.Conn
	subbed  map[string]chan struct{}              // closed when SUBSCRIBE is confirmed
	waiters map[string]map[chan struct{}]struct{} // channel+"\x00"+message
}

// register returns a channel that receives a token each time message is
// published on channel, and a function to stop. Registering before the
// first attempt means a release between the attempt and the wait is not
// missed.
func (w *wakeups) register(channel, message string) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	key := channel + "\x00" + message
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiters == nil {
		w.waiters = map[string]map[chan struct{}]struct{}{}
	}
	if w.waiters[key] == nil {
		w.waiters[key] = map[chan struct{}]struct{}{}
	}
	w.waiters[key][ch] = struct{}{}
	ready, err := w.subscribeLocked(channel)
	w.mu.Unlock()
	if err == nil {
		// SUBSCRIBE and the caller's attempt travel on different
		// connections: wait until the backend has the subscription.
		select {
		case <-ready:
		case <-time.After(time.Second):
			err = errors.New("no confirmation within 1s")
		}
	}
	if err != nil {
		// Without notifications the waiter still retries when the lease
		// runs out or at the deadline.
		w.log.Warn("cannot subscribe for wake-ups", zap.String("channel", channel), zap.Error(err))
	}
	w.mu.Lock()
	return ch, func() {
		w.mu.Lock()
		delete(w.waiters[key], ch)
		if len(w.waiters[key]) == 0 {
			delete(w.waiters, key)
		}
		w.mu.Unlock()
	}
}

func (w *wakeups) subscribeLocked(channel string) (<-chan struct{}, error) {
	if w.conn != nil && w.subbed[channel] != nil {
		return w.subbed[channel], nil
	}
	if w.conn == nil {
		n, err := w.b.Master(-1)
		var c *backend.Conn
		if err == nil {
			c, err = n.Dial(context.Background(), backend.ConnKey{DB: w.b.DB(), Proto: 2})
		}
		if err != nil {
			return nil, err
		}
		w.conn, w.subbed = c, map[string]chan struct{}{}
		go w.readLoop(c)
	}
	if err := w.conn.Write(resp.AppendCommand(nil, []byte("SUBSCRIBE"), []byte(channel))); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	w.subbed[channel] = ready
	return ready, nil
}

func (w *wakeups) readLoop(c *backend.Conn) {
	for {
		frame, err := c.ReadFrame(nil)
		if err != nil {
			w.mu.Lock()
			if w.conn == c {
				w.conn = nil
			}
			// Wake everyone: they retry, and resubscribe on their next wait.
			for _, set := range w.waiters {
				for ch := range set {
					notify(ch)
				}
			}
			w.mu.Unlock()
			return
		}
		parts := resp.SplitArray(frame)
		if len(parts) == 3 && bytes.Equal(parts[0], []byte("$9\r\nsubscribe\r\n")) {
			w.mu.Lock()
			if ready := w.subbed[string(resp.Text(parts[1]))]; ready != nil && w.conn == c {
				select {
				case <-ready:
				default:
					close(ready)
				}
			}
			w.mu.Unlock()
			continue
		}
		if len(parts) != 3 || !bytes.Equal(parts[0], []byte("$7\r\nmessage\r\n")) {
			continue
		}
		key := string(resp.Text(parts[1])) + "\x00" + string(resp.Text(parts[2]))
		w.mu.Lock()
		for ch := range w.waiters[key] {
			notify(ch)
		}
		w.mu.Unlock()
	}
}

func (w *wakeups) close() {
	w.mu.Lock()
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
	w.mu.Unlock()
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Verbs as Redis functions. A function survives SCRIPT FLUSH, is
// replicated to replicas (a failover keeps it), and redverb loads every
// verb's library on each shared connection it opens (a restart drops the
// connections), so FCALL rarely meets a backend without it. Only a FUNCTION
// FLUSH or DELETE sent to the backend directly removes it; then the call is
// loaded and run again; so only a batch's last command goes as FCALL, and
// a verb with commands of its client behind it goes as EVAL with its
// compact body, which cannot find the script missing (see runShared).

// batchVerb is a verb sent in the batch being run, as FCALL (the batch's
// last command) or EVAL with its compact body.
type batchVerb struct {
	index      int // in the batch
	call       *verb.Call
	start, end int  // its encoded call in Session.fcallBuf
	fcall      bool // sent as FCALL: a missing function is loaded and the call run again
}

// asFunction reports whether a resolved verb call runs as FCALL.
func (s *Session) asFunction(call *verb.Call, err error) bool {
	return err == nil && call.Function != "" && call.Retry == nil && call.Then == nil && s.srv.Backend.Functions()
}

// finishFunctions completes the FCALL verbs of the batch just sent: each
// reply is converted for the client, and a call whose function the
// backend did not have is loaded and run again. The batch's replies are
// rewritten in order into a spare buffer.
func (s *Session) finishFunctions() {
	req := &s.req
	out := append(s.rebuf[:0], s.out[:req.Base]...)
	prev, j := req.Base, 0
	for i, end := range req.Ends {
		reply := s.out[prev:end]
		prev = end
		if j < len(s.inBatch) && s.inBatch[j].index == i {
			reply = s.finishFunction(s.inBatch[j], reply)
			j++
		}
		out = append(out, reply...)
		req.Ends[i] = len(out)
	}
	s.rebuf = s.out[:0]
	if cap(s.rebuf) > 64<<10 {
		s.rebuf = nil
	}
	s.out, req.Out = out, out
	clear(s.inBatch)
}

func (s *Session) finishFunction(v batchVerb, reply []byte) []byte {
	call := v.call
	if v.fcall && bytes.HasPrefix(reply, []byte("-ERR Function not found")) {
		counters.ScriptReloads.Add(1)
		s.srv.log.Info("backend lacks a verb's function; loading it", zap.String("function", call.Function))
		t := s.srv.Backend.CallTarget(call)
		parts := sendEach(s, [][]byte{
			resp.AppendCommand(nil, []byte("FUNCTION"), []byte("LOAD"), []byte("REPLACE"), []byte(call.Library)),
			call.AppendFCall(nil)}, []backend.Target{t, t})
		reply = parts[1]
		if isNoScript(parts[0]) || bytes.HasPrefix(parts[0], []byte("-ERR unknown")) || bytes.HasPrefix(reply, []byte("-ERR Function not found")) {
			// Functions are gone or refused here: run it as a script.
			parts = sendEach(s, [][]byte{
				resp.AppendCommand(nil, []byte("SCRIPT"), []byte("LOAD"), []byte(call.Script)),
				call.AppendCall(nil, false)}, []backend.Target{t, t})
			reply = parts[1]
		}
	}
	if convert := s.converter(call); convert != nil && !resp.IsError(reply) {
		reply = convert(reply)
	}
	return reply
}
