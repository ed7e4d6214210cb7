package proxy

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/resp"
)

// transaction is a client's MULTI and WATCH state, on its dedicated
// connection: whether it is inside MULTI or watching, what it queued (and
// how each queued reply converts in EXEC's), and on a cluster, the master
// it is pinned to.
//
// Transactions on a cluster. A client that thinks it talks to one Redis
// runs MULTI before naming any key, so the transaction starts on any master
// and moves, once, to the master of its first key: what was queued so far
// (keyless commands) is discarded there and queued again on the new one.
// WATCH names its keys, so a WATCH pins at once. A later command whose key
// lives on another server gets Redis Cluster's -CROSSSLOT, and the backend
// aborts the transaction at EXEC as it would for any refused command.
type transaction struct {
	s        *Session
	inMulti  bool
	watching bool
	multiDB  int                   // database a SELECT queued inside MULTI switches to; -1 if none
	queued   []func([]byte) []byte // reply conversions of the commands queued in MULTI
	pinned   bool                  // ded is on the server of the transaction's keys
	unpinned [][]byte              // commands queued in MULTI before the first key pinned it
}

var multiCmd = resp.AppendCommand(nil, []byte("MULTI"))

// reset forgets the transaction, as the connection it was on is gone.
func (x *transaction) reset() {
	x.inMulti, x.watching, x.multiDB, x.queued = false, false, -1, nil
	x.pinned, x.unpinned = false, nil
}

// pinTarget is the master a dedicated connection must be on for args: on a
// cluster the one serving its first key; noSlot if any will do.
func (x *transaction) pinTarget(c *command) backend.Target {
	b := x.s.srv.Backend
	if !b.SeveralServers() {
		return backend.NoSlot
	}
	return b.TargetOf(c.spec.keys, c.args).Master()
}

// pin moves the session's dedicated connection to the master serving t,
// replaying the transaction queued so far; holds keeps it there (a
// transaction, a WATCH) until the session lets it go. On failure the command gets the
// error and pin reports false.
func (x *transaction) pin(t backend.Target, holds bool) bool {
	n, err := x.s.srv.Backend.Master(int(t))
	if err == nil && n == x.s.ded.Node {
		x.pinned, x.unpinned = holds, nil
		return true
	}
	var c *backend.Conn
	switch {
	case err == nil && x.s.track.enabled:
		c, err = x.s.track.connOn(n) // tracking stays on where the client's keys are
	case err == nil:
		c, err = n.Take(context.Background(), x.s.ded.Key)
	}
	if err == nil && x.inMulti {
		// The client had these replies from the first server, and MONITOR
		// showed the commands there.
		if x.s.track.enabled {
			for _, raw := range append([][]byte{multiCmd}, x.unpinned...) {
				if _, err = x.s.track.own(c, raw); err != nil {
					break
				}
			}
		} else {
			_, err = c.Pipeline(append([][]byte{multiCmd}, x.unpinned...), time.Time{})
		}
	}
	if err != nil {
		if c != nil && !x.s.track.enabled {
			c.Close()
		}
		x.s.out = appendBackendError(x.s.out, err)
		return false
	}
	old := x.s.ded
	switch {
	case x.s.track.enabled:
		// Another tracked connection: the old one stays, out of MULTI.
		if x.inMulti {
			x.s.track.own(old, resp.AppendCommand(nil, []byte("DISCARD")))
		}
	case x.inMulti:
		if _, err := old.RoundTrip([]byte("DISCARD")); err != nil {
			old.Close()
		} else {
			old.Give()
		}
	default:
		old.Give()
	}
	x.s.ded, x.pinned, x.unpinned = c, holds, nil
	return true
}

// onDedicatedNode reports whether the dedicated connection is on the
// master serving t.
func (x *transaction) onDedicatedNode(t backend.Target) bool {
	n, err := x.s.srv.Backend.Master(int(t))
	return err == nil && n == x.s.ded.Node
}

// crossNode handles a redirect on the dedicated connection (the reply at
// x.s.out[start:]): inside a transaction or for WATCH, keys on another server
// get -CROSSSLOT; any other command (a read between WATCH and MULTI) is
// sent where it belongs on the shared path.
func (x *transaction) crossNode(name string, args [][]byte, start int) {
	if !x.s.srv.Backend.SeveralServers() {
		return
	}
	if !backend.IsRedirect(x.s.out[start:]) {
		return
	}
	x.s.out = x.s.out[:start]
	if x.inMulti || name == "watch" {
		x.s.out = appendCommandError(x.s.out, errCrossSlot)
		return
	}
	x.s.forward(args...)
}

// recordUnpinned keeps a command queued before the transaction is pinned,
// to queue it again if the transaction moves.
func (x *transaction) recordUnpinned(name string, raw []byte) {
	if x.inMulti && !x.pinned && name != "multi" && x.s.srv.Backend.SeveralServers() {
		x.unpinned = append(x.unpinned, bytes.Clone(raw))
	}
}

// follow follows the transaction state a reply reveals.
func (x *transaction) follow(name string, args [][]byte, reply []byte) {
	queued := bytes.Equal(reply, []byte("+QUEUED\r\n"))
	ok := !resp.IsError(reply)
	switch name {
	case "multi":
		if ok {
			x.inMulti = true
		}
	case "watch":
		if ok {
			x.watching = true
		}
	case "unwatch":
		if ok && !queued {
			x.watching = false
		}
	case "discard":
		if ok {
			x.inMulti, x.watching, x.multiDB = false, false, -1
		}
	case "exec":
		if x.inMulti {
			committed := ok && (reply[0] == '*') && !bytes.HasPrefix(reply, []byte("*-1"))
			if committed && x.multiDB >= 0 {
				x.s.db, x.s.ded.Key.DB = x.multiDB, x.multiDB
			}
			x.inMulti, x.watching, x.multiDB = false, false, -1
		}
	case "select":
		db, _ := strconv.Atoi(string(args[len(args)-1]))
		if queued {
			x.multiDB = db
		} else if ok {
			x.s.db, x.s.ded.Key.DB = db, db
		}
	}
}

// finish applies reply conversions on a dedicated connection:
// at once, or for commands queued in MULTI, to their results in EXEC's reply.
func (x *transaction) finish(name string, start int, convert func([]byte) []byte) {
	reply := x.s.out[start:]
	switch {
	case x.inMulti && bytes.Equal(reply, []byte("+QUEUED\r\n")):
		x.queued = append(x.queued, convert)
		return
	case name == "exec" && x.inMulti:
		queued := x.queued
		x.queued = nil
		elems := resp.SplitArray(reply)
		if len(elems) != len(queued) || !slices.ContainsFunc(queued, func(f func([]byte) []byte) bool { return f != nil }) {
			return
		}
		out := resp.AppendHeader(nil, reply[0], len(elems))
		for i, e := range elems {
			if queued[i] != nil {
				e = queued[i](e)
			}
			out = append(out, e...)
		}
		x.s.out = append(x.s.out[:start], out...)
		return
	case name == "discard" || name == "multi":
		x.queued = nil
	}
	if convert != nil {
		x.s.out = append(x.s.out[:start], convert(reply)...)
	}
}

// queue sends raw inside MULTI in place of a command the proxy does
// not forward; convert gives the client's reply (at once if the backend
// refuses raw, or in EXEC's reply if it queues it).
func (x *transaction) queue(raw []byte, convert func([]byte) []byte) {
	err := x.s.exchange(x.s.ded, [][]byte{raw}, waitNone, func(_, start int) {
		x.finish("", start, convert)
		x.recordUnpinned("", raw)
	})
	if err != nil {
		x.s.dropDedicated()
	}
}

// queueLocal queues one of the proxy's own commands inside MULTI: the
// backend queues a PING in its place, and the command runs when EXEC
// commits, its reply taking the PING's slot. Nothing runs if the
// transaction is discarded or aborted.
func (x *transaction) queueLocal(c *command) {
	args := c.args
	if refusal := queueTimeError(args); refusal != "" {
		x.abort(refusal)
		return
	}
	saved := cloneArgs(args) // args point into the input buffer, reused before EXEC
	handler := c.spec.local
	x.queueForExec(func() []byte {
		out := x.s.out
		x.s.out = nil
		handler(x.s, saved)
		reply := x.s.out
		x.s.out = out
		if len(reply) == 0 { // CLIENT REPLY OFF|SKIP: no reply of its own
			reply = []byte("+OK\r\n")
		}
		return reply
	})
}

// queueForExec queues a PING on the backend inside MULTI; when EXEC
// commits, reply gives what the client sees in the PING's slot.
func (x *transaction) queueForExec(reply func() []byte) {
	x.queue(resp.AppendCommand(nil, []byte("PING")), func([]byte) []byte { return reply() })
}

// abort answers a command inside MULTI with Redis's queue-time
// error msg. The backend is sent a bare EVAL in its place, which it refuses
// at queue time too, so it aborts the transaction at EXEC as Redis would.
func (x *transaction) abort(msg string) {
	x.queue(resp.AppendCommand(nil, []byte("EVAL")), func([]byte) []byte { return resp.AppendError(nil, msg) })
}
