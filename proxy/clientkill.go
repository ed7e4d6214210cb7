package proxy

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/redverb/redverb/internal/resp"
)

// killFilter is a parsed CLIENT KILL: every set field must match.
type killFilter struct {
	id          uint64
	addr, laddr string
	typ         string // normal, pubsub, or replica (which never matches a proxy client)
	maxAge      int64  // seconds; 0: any age
	skipMe      bool
	user        string
}

// clientKill answers CLIENT KILL for the proxy's own clients, in both of
// Redis's forms: CLIENT KILL ip:port (+OK or an error), and CLIENT KILL
// <filter> <value> ... (the number killed). The backend's connections are
// the proxy's, not the client's, so nothing is forwarded.
func clientKill(s *Session, args [][]byte) {
	if len(args) < 3 {
		s.arityError("client|kill")
		return
	}
	if len(args) == 3 {
		target := s.srv.sessionByAddr(string(args[2]))
		if target == nil {
			s.out = resp.AppendError(s.out, "ERR No such client")
			return
		}
		s.out = append(s.out, "+OK\r\n"...)
		s.kill(target)
		return
	}
	f, err := parseKillFilter(args[2:])
	if err == "" && f.user != "" && f.user != "default" && !s.backendHasUser(f.user) {
		err = "ERR No such user '" + f.user + "'"
	}
	if err != "" {
		s.out = resp.AppendError(s.out, err)
		return
	}
	var killed []*Session
	now := time.Now()
	for _, other := range s.srv.sessionsSnapshot() {
		if f.matches(other, s, now) {
			killed = append(killed, other)
		}
	}
	s.out = resp.AppendHeader(s.out, ':', len(killed))
	for _, other := range killed {
		s.kill(other)
	}
}

// parseKillFilter reads filter/value pairs, with Redis's error texts.
func parseKillFilter(pairs [][]byte) (killFilter, string) {
	f := killFilter{skipMe: true}
	if len(pairs)%2 != 0 {
		return f, "ERR syntax error"
	}
	for i := 0; i < len(pairs); i += 2 {
		v := string(pairs[i+1])
		switch strings.ToLower(string(pairs[i])) {
		case "id":
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				return f, "ERR client-id should be greater than 0"
			}
			f.id = uint64(id)
		case "type":
			switch t := strings.ToLower(v); t {
			case "normal", "pubsub":
				f.typ = t
			case "master", "slave", "replica":
				f.typ = "replica"
			default:
				return f, "ERR Unknown client type '" + v + "'"
			}
		case "addr":
			f.addr = v
		case "laddr":
			f.laddr = v
		case "user":
			f.user = v
		case "skipme":
			switch strings.ToLower(v) {
			case "yes":
				f.skipMe = true
			case "no":
				f.skipMe = false
			default:
				return f, "ERR syntax error"
			}
		case "maxage":
			age, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return f, "ERR value is not an integer or out of range"
			}
			f.maxAge = age
		default:
			return f, "ERR syntax error"
		}
	}
	return f, ""
}

func (f killFilter) matches(s, caller *Session, now time.Time) bool {
	switch {
	case s.killed.Load(),
		f.skipMe && s == caller,
		f.id != 0 && s.id != f.id,
		f.addr != "" && s.nc.RemoteAddr().String() != f.addr,
		f.laddr != "" && s.nc.LocalAddr().String() != f.laddr,
		f.maxAge > 0 && int64(now.Sub(s.created).Seconds()) <= f.maxAge,
		f.user != "" && s.userName() != f.user,
		f.typ == "replica":
		return false
	case f.typ != "":
		return (f.typ == "pubsub") == s.isSubscriber()
	}
	return true
}

// isSubscriber reports, from what the session last published, whether it
// is in pub/sub mode (safe to call from other sessions).
func (s *Session) isSubscriber() bool {
	ci := s.info.Load()
	return ci != nil && strings.Contains(ci.flags, "P")
}

// isStreaming reports whether the client is subscribed or in MONITOR (safe
// to call from other sessions).
func (s *Session) isStreaming() bool {
	ci := s.info.Load()
	return ci != nil && strings.ContainsAny(ci.flags, "PO")
}

// kill disconnects a client; the caller itself is closed once its reply
// is written, as Redis does.
func (s *Session) kill(target *Session) {
	target.killed.Store(true) // gone for CLIENT KILL and LIST, though it may take a moment to close
	if target == s {
		s.quit = true
		return
	}
	s.srv.parker.hangUp(target)
}

// sessionByAddr finds a client by its address as CLIENT LIST shows it.
func (srv *Server) sessionByAddr(addr string) *Session {
	for _, s := range srv.sessionsSnapshot() {
		if !s.killed.Load() && s.nc.RemoteAddr().String() == addr {
			return s
		}
	}
	return nil
}

// userName is the client's user as CLIENT LIST shows it (safe to call from
// other sessions).
func (s *Session) userName() string {
	if ci := s.info.Load(); ci != nil {
		return ci.user
	}
	return "default"
}

// backendHasUser reports whether user is one clients can be: with --auth
// backend one of the backend's ACL users (asked as this client; a client
// that may not ask is told it exists), otherwise only default, as Redis
// has without ACL users.
func (s *Session) backendHasUser(user string) bool {
	if !s.srv.Backend.AuthClients() {
		return false
	}
	start := len(s.out)
	s.forward([]byte("ACL"), []byte("GETUSER"), []byte(user))
	reply := s.out[start:]
	s.out = s.out[:start]
	return len(reply) > 0 && !bytes.HasPrefix(reply, []byte("*-1")) && !bytes.HasPrefix(reply, []byte("$-1")) && reply[0] != '_'
}
