package proxy

import "github.com/redverb/redverb/internal/resp"

// answerBusy answers a command with -BUSY while a script runs past the
// threshold elsewhere in the cluster, as one busy server would, and
// reports whether it did. Inside MULTI the backend's transaction is
// flagged too (a command it refuses at queue time is sent in place), and
// EXEC discards it with Redis's EXECABORT.
func (s *Session) answerBusy(c *command) bool {
	busy := s.srv.Backend.BusyReply()
	if busy == nil || c.spec.flags&allowedBusy != 0 {
		return false
	}
	switch {
	case s.ded != nil && s.tx.inMulti && c.spec.name == "exec":
		abort := append([]byte("-EXECABORT Transaction discarded because of: "), busy[1:]...)
		s.tx.queue(resp.AppendCommand(nil, []byte("DISCARD")), func([]byte) []byte { return abort })
		s.tx.inMulti, s.tx.watching, s.tx.multiDB, s.tx.queued = false, false, -1, nil
		if s.ded != nil && !s.track.enabled {
			s.ded.Give()
			s.ded, s.tx.pinned, s.tx.unpinned = nil, false, nil
		}
	case s.ded != nil && s.tx.inMulti:
		s.tx.queue(resp.AppendCommand(nil, []byte("EVAL")), func([]byte) []byte { return busy })
	default:
		s.out = append(s.out, busy...)
	}
	return true
}
