package proxy

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/resp"
)

// Out-of-band commands act on a backend that is busy with some other
// client's command: SCRIPT KILL and FUNCTION KILL for a runaway script,
// CLIENT UNPAUSE for a pause that holds the shared connection, CLIENT
// UNBLOCK for a client blocked on its own connection. Queued on a shared
// connection they would wait behind the very command they are meant to stop,
// so each runs alone on a pooled connection of its own.

// runOutOfBand sends one command on a pooled connection and appends its
// reply. The connection is in database 0: these commands do not depend on
// the database, and a busy backend refuses SELECT.
// On a cluster it runs on every master (a CLIENT PAUSE must pause them
// all) and answers with the first error, or the first master's reply.
func (s *Session) runOutOfBand(args ...[]byte) {
	nodes, err := s.srv.Backend.Masters()
	if err != nil {
		s.out = appendBackendError(s.out, err)
		return
	}
	if !s.srv.Backend.SeveralServers() {
		nodes = nodes[:1]
	}
	start := len(s.out)
	var first []byte
	for _, n := range nodes {
		s.runOutOfBandOn(n, args...)
		reply := s.out[start:]
		if first == nil || (resp.IsError(reply) && !resp.IsError(first)) {
			first = bytes.Clone(reply)
		}
		s.out = s.out[:start]
	}
	s.out = append(s.out, first...)
}

// runOutOfBandOn is runOutOfBand on a given server.
func (s *Session) runOutOfBandOn(n *backend.Node, args ...[]byte) {
	key := backend.ConnKey{DB: 0, Proto: int(s.proto)}
	reply, err := n.ClientOutOfBand(key, args...)
	if err == nil && len(args) == 2 && bytes.EqualFold(args[1], []byte("kill")) && verbRunning(reply) {
		// A verb runs as a function, which the client that sent SCRIPT
		// KILL knows as a script: kill it as Redis asks.
		var stats []byte
		if stats, err = n.OutOfBand(key, []byte("FUNCTION"), []byte("STATS")); err == nil && bytes.Contains(stats, []byte("\r\nrv_")) {
			reply, err = n.ClientOutOfBand(key, []byte("FUNCTION"), []byte("KILL"))
		}
	}
	if err != nil {
		s.out = appendBackendError(s.out, err)
		return
	}
	s.out = append(s.out, reply...)
}

// verbRunning reports whether a SCRIPT KILL reply says a function runs,
// which FUNCTION KILL would stop.
func verbRunning(reply []byte) bool {
	return bytes.HasPrefix(reply, []byte("-BUSY")) && bytes.Contains(reply, []byte("FUNCTION KILL"))
}

// blockState records the backend connection a session's blocking command
// waits on, so CLIENT UNBLOCK from another client can reach it. mu is held
// across an unblock, so the connection cannot go back to the pool (and
// block for someone else) while it is being unblocked.
type blockState struct {
	mu      sync.Mutex
	on      *backend.Conn
	unblock chan string // set while a verb waits in the proxy (LOCK ... WAIT)
}

// set records the backend connection a blocking command waits on; nil
// ends any wait.
func (b *blockState) set(c *backend.Conn) {
	b.mu.Lock()
	b.on, b.unblock = c, nil
	b.mu.Unlock()
}

// busy reports whether the session waits in a blocking command.
func (b *blockState) busy() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.on != nil || b.unblock != nil
}

// waitInProxy records a wait that runs in the proxy rather than on a
// backend connection, and returns where CLIENT UNBLOCK sends its reason.
func (b *blockState) waitInProxy() <-chan string {
	ch := make(chan string, 1)
	b.mu.Lock()
	b.unblock = ch
	b.mu.Unlock()
	return ch
}

// clientUnblock answers CLIENT UNBLOCK id [TIMEOUT|ERROR] for one of the
// proxy's clients: the backend connection serving that client's blocking
// command is unblocked, and the client gets Redis's own null reply or
// -UNBLOCKED error from it.
func clientUnblock(s *Session, args [][]byte) {
	if len(args) != 3 && len(args) != 4 {
		s.out = resp.AppendError(s.out, "ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.")
		return
	}
	id, err := strconv.ParseInt(string(args[2]), 10, 64)
	if err != nil {
		s.out = resp.AppendError(s.out, "ERR value is not an integer or out of range")
		return
	}
	reason := "timeout"
	if len(args) == 4 {
		if reason = strings.ToLower(string(args[3])); reason != "timeout" && reason != "error" {
			s.out = resp.AppendError(s.out, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
			return
		}
	}
	var target *Session
	if id > 0 {
		target = s.srv.session(uint64(id))
	}
	if target == nil {
		s.out = append(s.out, ":0\r\n"...)
		return
	}
	target.blocked.mu.Lock()
	defer target.blocked.mu.Unlock()
	if target.blocked.unblock != nil {
		select {
		case target.blocked.unblock <- reason:
			s.out = append(s.out, ":1\r\n"...)
		default: // already unblocked
			s.out = append(s.out, ":0\r\n"...)
		}
		return
	}
	if target.blocked.on == nil || target.blocked.on.ID == 0 {
		s.out = append(s.out, ":0\r\n"...)
		return
	}
	cmd := [][]byte{[]byte("CLIENT"), []byte("UNBLOCK"), strconv.AppendInt(nil, target.blocked.on.ID, 10)}
	s.runOutOfBandOn(target.blocked.on.Node, append(cmd, args[3:]...)...)
}
