package proxy

import (
	"bytes"
	"context"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/resp"
)

// Transactions on a cluster. A client that thinks it talks to one Redis
// runs MULTI before naming any key, so the transaction starts on any master
// and moves, once, to the master of its first key: what was queued so far
// (keyless commands) is discarded there and queued again on the new one.
// WATCH names its keys, so a WATCH pins at once. A later command whose key
// lives on another server gets Redis Cluster's -CROSSSLOT, and the backend
// aborts the transaction at EXEC as it would for any refused command.

// pinTarget is the master a dedicated connection must be on for args: on a
// cluster the one serving its first key; noSlot if any will do.
func (s *Session) pinTarget(c *command) backend.Target {
	b := s.srv.Backend
	if !b.SeveralServers() {
		return backend.NoSlot
	}
	return b.TargetOf(c.spec.keys, c.args).Master()
}

// pin moves the session's dedicated connection to the master serving t,
// replaying the transaction queued so far; holds keeps it there (a
// transaction, a WATCH) until the session lets it go. On failure the command gets the
// error and pin reports false.
func (s *Session) pin(t backend.Target, holds bool) bool {
	n, err := s.srv.Backend.Master(int(t))
	if err == nil && n == s.ded.Node {
		s.pinned, s.unpinned = holds, nil
		return true
	}
	var c *backend.Conn
	switch {
	case err == nil && s.tracking:
		c, err = s.trackedOn(n) // tracking stays on where the client's keys are
	case err == nil:
		c, err = n.Take(context.Background(), s.ded.Key)
	}
	if err == nil && s.inMulti {
		// The client had these replies from the first server, and MONITOR
		// showed the commands there.
		if s.tracking {
			for _, raw := range append([][]byte{multiCmd}, s.unpinned...) {
				if _, err = s.trackedOwn(c, raw); err != nil {
					break
				}
			}
		} else {
			_, err = c.Pipeline(append([][]byte{multiCmd}, s.unpinned...), time.Time{})
		}
	}
	if err != nil {
		if c != nil && !s.tracking {
			c.Net.Close()
		}
		s.out = appendBackendError(s.out, err)
		return false
	}
	old := s.ded
	switch {
	case s.tracking:
		// Another tracked connection: the old one stays, out of MULTI.
		if s.inMulti {
			s.trackedOwn(old, resp.AppendCommand(nil, []byte("DISCARD")))
		}
	case s.inMulti:
		if _, err := old.RoundTrip([]byte("DISCARD")); err != nil {
			old.Net.Close()
		} else {
			old.Give()
		}
	default:
		old.Give()
	}
	s.ded, s.pinned, s.unpinned = c, holds, nil
	return true
}

// onDedicatedNode reports whether the dedicated connection is on the
// master serving t.
func (s *Session) onDedicatedNode(t backend.Target) bool {
	n, err := s.srv.Backend.Master(int(t))
	return err == nil && n == s.ded.Node
}

var multiCmd = resp.AppendCommand(nil, []byte("MULTI"))

// crossNode handles a redirect on the dedicated connection (the reply at
// s.out[start:]): inside a transaction or for WATCH, keys on another server
// get -CROSSSLOT; any other command (a read between WATCH and MULTI) is
// sent where it belongs on the shared path.
func (s *Session) crossNode(name string, args [][]byte, start int) {
	if !s.srv.Backend.SeveralServers() {
		return
	}
	if !backend.IsRedirect(s.out[start:]) {
		return
	}
	s.out = s.out[:start]
	if s.inMulti || name == "watch" {
		s.out = appendCommandError(s.out, errCrossSlot)
		return
	}
	s.forward(args...)
}

// recordUnpinned keeps a command queued before the transaction is pinned,
// to queue it again if the transaction moves.
func (s *Session) recordUnpinned(name string, raw []byte) {
	if s.inMulti && !s.pinned && name != "multi" && s.srv.Backend.SeveralServers() {
		s.unpinned = append(s.unpinned, bytes.Clone(raw))
	}
}
