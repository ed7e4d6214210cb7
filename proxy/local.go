package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/resp"
	"github.com/tidwall/redcon"
)

// cloneArgs copies a command's arguments out of the input buffer.
func cloneArgs(args [][]byte) [][]byte {
	saved := make([][]byte, len(args))
	for i, a := range args {
		saved[i] = bytes.Clone(a)
	}
	return saved
}

// clientArity is Redis's arity of each CLIENT subcommand: exact when
// positive, a minimum when negative.
var clientArity = map[string]int{
	"id": 2, "getname": 2, "setname": 3, "info": 2, "list": -2, "kill": -3, "reply": 3, "unblock": -3,
	"pause": -3, "unpause": 2, "setinfo": 4, "no-evict": 3, "no-touch": 3, "tracking": -3, "caching": 3,
	"getredir": 2, "trackinginfo": 2, "help": 2,
}

// queueTimeError is the error Redis gives, instead of QUEUED, for a
// connection command with the wrong number of arguments or an unknown
// subcommand; "" if it would be queued.
func queueTimeError(args [][]byte) string {
	name := strings.ToLower(string(args[0]))
	switch {
	case name == "auth" && len(args) < 2, name == "client" && len(args) < 2:
		return "ERR wrong number of arguments for '" + name + "' command"
	case name != "client":
		return ""
	}
	sub := strings.ToLower(string(args[1]))
	arity, ok := clientArity[sub]
	switch {
	case !ok:
		return "ERR unknown subcommand '" + string(args[1]) + "'. Try CLIENT HELP."
	case arity > 0 && len(args) != arity, arity < 0 && len(args) < -arity:
		return "ERR wrong number of arguments for 'client|" + sub + "' command"
	}
	return ""
}

func cmdRefused(s *Session, args [][]byte) {
	name := strings.ToLower(string(args[0]))
	refusal := resp.AppendError(nil, fmt.Sprintf("ERR '%s' is not supported by redverb; run it against the backend directly", name))
	switch {
	case s.tx.inMulti: // Redis queues them (those it refuses in MULTI are refusedInMulti)
		s.tx.queueForExec(func() []byte { return refusal })
	default:
		s.out = append(s.out, refusal...)
	}
}

func (s *Session) arityError(name string) {
	s.out = resp.AppendError(s.out, "ERR wrong number of arguments for '"+name+"' command")
}

func cmdQuit(s *Session, _ [][]byte) {
	s.out = append(s.out, "+OK\r\n"...)
	s.quit = true
}

func cmdReset(s *Session, _ [][]byte) {
	s.releaseDedicated()
	s.db, s.proto, s.name, s.replies = s.srv.Backend.DB(), 2, "", repliesOn
	s.user, s.pass = "", ""
	s.authed.Store(s.srv.RequirePass == "")
	s.out = append(s.out, "+RESET\r\n"...)
}

// checkPassword answers whether user/pass authenticate against the proxy's
// requirepass, or with --auth backend against the backend's users, with
// Redis's error replies. On success the session takes the identity.
func (s *Session) checkPassword(user, pass []byte) bool {
	if s.srv.Backend.AuthClients() {
		key := s.key()
		key.User, key.Pass = string(user), string(pass)
		if err := s.srv.Backend.CheckCredentials(key); err != nil {
			s.out = appendBackendError(s.out, err)
			return false
		}
		s.user, s.pass = key.User, key.Pass
		return true
	}
	if s.srv.RequirePass == "" && (user == nil || string(user) == "default") {
		return true
	}
	good := string(user) == "default" || user == nil
	good = subtle.ConstantTimeCompare(pass, []byte(s.srv.RequirePass)) == 1 && good
	if !good {
		s.out = resp.AppendError(s.out, "WRONGPASS invalid username-password pair or user is disabled.")
	}
	return good
}

func cmdAuth(s *Session, args [][]byte) {
	var user, pass []byte
	switch len(args) {
	case 2:
		pass = args[1]
		if s.srv.RequirePass == "" && !s.srv.Backend.AuthClients() {
			s.out = resp.AppendError(s.out, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
			return
		}
	case 3:
		user, pass = args[1], args[2]
	default:
		s.arityError("auth")
		return
	}
	if s.checkPassword(user, pass) {
		s.authed.Store(true)
		s.out = append(s.out, "+OK\r\n"...)
	}
}

func cmdHello(s *Session, args [][]byte) {
	proto := s.proto
	if len(args) > 1 {
		v, err := strconv.ParseInt(string(args[1]), 10, 64)
		if err != nil {
			s.out = resp.AppendError(s.out, "ERR Protocol version is not an integer or out of range")
			return
		}
		if v < 2 || v > 3 {
			s.out = resp.AppendError(s.out, "NOPROTO unsupported protocol version")
			return
		}
		proto = protocol(v)
	}
	var user, pass []byte
	var name *string
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "auth" && more >= 2:
			user, pass = args[i+1], args[i+2]
			i += 2
		case opt == "setname" && more >= 1:
			n := string(args[i+1])
			name = &n
			i++
		default:
			s.out = resp.AppendError(s.out, "ERR Syntax error in HELLO option '"+string(args[i])+"'")
			return
		}
	}
	if pass != nil {
		if !s.checkPassword(user, pass) {
			return
		}
	} else if !s.authed.Load() {
		s.out = resp.AppendError(s.out, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if s.track.enabled && proto != s.proto {
		// The client's tracking lives on its own backend connection,
		// which changes protocol with it (where invalidations then go:
		// pushes in RESP3, the REDIRECT client in RESP2).
		start := len(s.out)
		hello := [][]byte{[]byte("HELLO"), []byte(strconv.Itoa(int(proto)))}
		s.inDedicated(hello...)
		if s.ded == nil || resp.IsError(s.out[start:]) {
			return // the connection failed, or the backend refused: its error
		}
		s.out = s.out[:start]
		for _, c := range s.track.conns {
			if c != s.ded {
				if _, err := s.track.own(c, resp.AppendCommand(nil, hello...)); err != nil {
					s.dropDedicated()
					s.out = appendBackendError(s.out, err)
					return
				}
			}
			c.Key.Proto = int(proto)
		}
	}
	if name != nil && !validClientName(*name) {
		s.out = resp.AppendError(s.out, "ERR Client names cannot contain spaces, newlines or special characters.")
		return
	}
	s.authed.Store(true)
	if name != nil {
		s.name = *name
	}
	s.proto = proto
	s.appendHello()
}

// appendHello writes HELLO's reply: a map in RESP3, a flat array in RESP2.
func (s *Session) appendHello() {
	if s.proto == 3 {
		s.out = resp.AppendHeader(s.out, '%', 7)
	} else {
		s.out = resp.AppendHeader(s.out, '*', 14)
	}
	s.out = redcon.AppendBulkString(s.out, "server")
	s.out = redcon.AppendBulkString(s.out, "redis")
	s.out = redcon.AppendBulkString(s.out, "version")
	s.out = redcon.AppendBulkString(s.out, s.srv.Backend.Version(context.Background()))
	s.out = redcon.AppendBulkString(s.out, "proto")
	s.out = redcon.AppendInt(s.out, int64(s.proto))
	s.out = redcon.AppendBulkString(s.out, "id")
	s.out = redcon.AppendInt(s.out, int64(s.id))
	s.out = redcon.AppendBulkString(s.out, "mode")
	s.out = redcon.AppendBulkString(s.out, "standalone")
	s.out = redcon.AppendBulkString(s.out, "role")
	s.out = redcon.AppendBulkString(s.out, "master")
	s.out = redcon.AppendBulkString(s.out, "modules")
	s.out = redcon.AppendArray(s.out, 0)
}

func cmdSelect(s *Session, args [][]byte) {
	if len(args) != 2 {
		s.arityError("select")
		return
	}
	db, err := strconv.ParseInt(string(args[1]), 10, 64)
	if err != nil {
		s.out = resp.AppendError(s.out, "ERR value is not an integer or out of range")
		return
	}
	if db < math.MinInt32 || db > math.MaxInt32 {
		s.out = resp.AppendError(s.out, "ERR value is out of range, value must between -2147483648 and 2147483647")
		return
	}
	if db < 0 {
		s.out = resp.AppendError(s.out, "ERR DB index is out of range")
		return
	}
	key := s.key()
	key.DB = int(db)
	if refusal := s.selectRefused(int(db)); refusal != nil {
		s.out = append(s.out, refusal...)
		return
	}
	if err := s.srv.Backend.Prepare(context.Background(), key); err != nil {
		s.out = appendBackendError(s.out, err)
		return
	}
	s.db = int(db)
	s.out = append(s.out, "+OK\r\n"...)
}

// selectRefused asks the backend whether the client's own user (--auth
// backend) may SELECT db, and returns its refusal (NOPERM), or nil. The
// proxy's connections reach a database as the URL's user, so the client's
// permission is asked on a pooled connection of its own, which selects
// back at once.
func (s *Session) selectRefused(db int) []byte {
	key := s.key()
	if !key.AsClient || (key.User == "" && key.Pass == "") {
		return nil
	}
	c, err := s.srv.Backend.Take(context.Background(), key, int(backend.NoSlot))
	if err != nil {
		return appendBackendError(nil, err)
	}
	replies, err := c.Pipeline([][]byte{
		resp.AppendCommand(nil, []byte("SELECT"), []byte(strconv.Itoa(db))),
		resp.AppendCommand(nil, []byte("SELECT"), []byte(strconv.Itoa(key.DB)))}, time.Time{})
	switch {
	case err != nil:
		c.Close()
		return appendBackendError(nil, err)
	case resp.IsError(replies[0]):
		c.Give() // still in its database
		return replies[0]
	case resp.IsError(replies[1]):
		c.Close() // in db, and may not go back
	default:
		c.Give()
	}
	return nil
}

// cmdUnsubscribe answers an unsubscribe from a client that has no
// subscriptions (a subscribed client's go to its pub/sub connection). Redis
// replies once per named channel, which would desynchronise a shared
// connection, so the proxy answers as Redis would.
func cmdUnsubscribe(s *Session, args [][]byte) {
	kind := strings.ToLower(string(args[0]))
	push := func(channel []byte) {
		if s.proto == 3 {
			s.out = resp.AppendHeader(s.out, '>', 3)
		} else {
			s.out = resp.AppendHeader(s.out, '*', 3)
		}
		s.out = redcon.AppendBulkString(s.out, kind)
		if channel == nil {
			s.out = s.proto.appendNull(s.out)
		} else {
			s.out = redcon.AppendBulk(s.out, channel)
		}
		s.out = redcon.AppendInt(s.out, 0)
	}
	if len(args) == 1 {
		push(nil)
	}
	for _, ch := range args[1:] {
		push(ch)
	}
}

func validClientName(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] < '!' || name[i] > '~' {
			return false
		}
	}
	return true
}

// clientRows are the CLIENT subcommands the proxy answers: those about the
// caller's own connection, and PAUSE and UNPAUSE, which go out of band.
// Others (HELP, ...) are forwarded.
func clientRows() []row {
	return []row{
		// NO-EVICT and NO-TOUCH are accepted and shown in CLIENT LIST, as
		// Redis does. redverb's clients are never evicted by the backend, and
		// commands on a shared connection touch keys as any client's do.
		{name: "no-evict", kind: kindLocal, local: func(s *Session, args [][]byte) { s.clientFlag(args, &s.noEvict) }},
		{name: "tracking", kind: kindLocal, local: clientTracking},
		{name: "getredir", kind: kindLocal, local: clientGetRedir},
		{name: "trackinginfo", kind: kindLocal, local: clientTrackingInfo},
		{name: "caching", kind: kindLocal, local: clientCaching},
		{name: "no-touch", kind: kindLocal, local: func(s *Session, args [][]byte) { s.clientFlag(args, &s.noTouch) }},
		{name: "setname", kind: kindLocal, local: func(s *Session, args [][]byte) {
			if len(args) != 3 {
				s.arityError("client|setname")
				return
			}
			if !validClientName(string(args[2])) {
				s.out = resp.AppendError(s.out, "ERR Client names cannot contain spaces, newlines or special characters.")
				return
			}
			s.name = string(args[2])
			s.out = append(s.out, "+OK\r\n"...)
		}},
		{name: "getname", kind: kindLocal, local: func(s *Session, args [][]byte) {
			if len(args) != 2 {
				s.arityError("client|getname")
				return
			}
			if s.name == "" {
				s.out = s.proto.appendNull(s.out)
				return
			}
			s.out = redcon.AppendBulkString(s.out, s.name)
		}},
		{name: "id", kind: kindLocal, local: func(s *Session, args [][]byte) {
			if len(args) != 2 {
				s.arityError("client|id")
				return
			}
			s.out = redcon.AppendInt(s.out, int64(s.id))
		}},
		{name: "info", kind: kindLocal, local: func(s *Session, args [][]byte) {
			if len(args) != 2 {
				s.arityError("client|info")
				return
			}
			s.publishInfo()
			s.publishMem(len(s.out))
			s.out = s.proto.appendText(s.out, s.describe(time.Now(), args))
		}},
		{name: "pause", kind: kindLocal, local: clientPause},
		{name: "unpause", kind: kindLocal, local: clientPause},
		{name: "list", kind: kindLocal, local: clientList},
		{name: "unblock", kind: kindLocal, local: clientUnblock},
		{name: "kill", kind: kindLocal, local: clientKill},
		{name: "reply", kind: kindLocal, local: clientReply},
		{name: "setinfo", kind: kindLocal, local: func(s *Session, args [][]byte) {
			if len(args) != 4 {
				s.arityError("client|setinfo")
				return
			}
			switch strings.ToLower(string(args[2])) {
			case "lib-name":
				s.libName = string(args[3])
			case "lib-ver":
				s.libVer = string(args[3])
			default:
				s.out = resp.AppendError(s.out, "ERR Unrecognized option '"+string(args[2])+"'")
				return
			}
			s.out = append(s.out, "+OK\r\n"...)
		}},
	}
}

// clientPause runs CLIENT PAUSE or UNPAUSE out of band: a pause holds the
// shared connection at its first write, so an UNPAUSE queued there would
// never arrive.
func clientPause(s *Session, args [][]byte) {
	start := len(s.out)
	s.runOutOfBand(args...)
	if string(s.out[start:]) == "+OK\r\n" {
		s.srv.Backend.NotePause(args)
	}
}

// clientReply answers CLIENT REPLY ON|OFF|SKIP: OFF and SKIP have no
// reply of their own; SKIP while OFF changes nothing, as in Redis.
func clientReply(s *Session, args [][]byte) {
	if len(args) != 3 {
		s.arityError("client|reply")
		return
	}
	switch strings.ToLower(string(args[2])) {
	case "on":
		s.replies = repliesOn
		s.out = append(s.out, "+OK\r\n"...)
	case "off":
		s.replies = repliesOff
	case "skip":
		if s.replies != repliesOff {
			s.replies = repliesSkip
		}
	default:
		s.out = resp.AppendError(s.out, "ERR syntax error")
		return
	}
	s.replyChosen = true
}

func cmdClient(s *Session, args [][]byte) {
	if len(args) < 2 {
		s.arityError("client")
		return
	}
	// Server-wide subcommands (HELP, ...) go to the backend; the table
	// gives the others their own handlers (clientRows).
	s.forward(args...)
}

// clientInfo is what CLIENT LIST shows of a session. Other sessions read it
// concurrently, so the session publishes a fresh copy when it changes.
type clientInfo struct {
	name, libName, libVer string
	user                  string
	db, proto             int
	flags                 string
	multi                 int
	redir                 int64           // CLIENT TRACKING's REDIRECT, -1 when not tracking
	key                   backend.ConnKey // the backend connection state the client needs
}

func (s *Session) snapshot() clientInfo {
	ci := clientInfo{name: s.name, libName: s.libName, libVer: s.libVer, db: s.db, proto: int(s.proto), flags: "N", multi: -1, user: s.user, key: s.key()}
	if ci.user == "" {
		ci.user = "default"
	}
	switch {
	case s.sub != nil && s.sub.monitor:
		ci.flags = "O"
	case s.sub != nil:
		ci.flags = "P"
	case s.tx.inMulti:
		ci.flags, ci.multi = "x", len(s.tx.queued)
	}
	ci.redir = -1
	if s.track.enabled {
		ci.flags = strings.TrimPrefix(ci.flags+"t", "N")
		ci.redir = s.track.redirect
	}
	if s.noEvict || s.noTouch {
		ci.flags = strings.TrimPrefix(ci.flags, "N")
		if s.noEvict {
			ci.flags += "e"
		}
		if s.noTouch {
			ci.flags += "T"
		}
	}
	return ci
}

// publishInfo is called after every pipeline; it allocates only on change.
func (s *Session) publishInfo() {
	if cur := s.info.Load(); cur == nil || *cur != s.snapshot() {
		ci := s.snapshot()
		s.info.Store(&ci)
	}
}

// describe formats the session like a line of CLIENT LIST: Redis 7.0's
// fields in its order, then Redis 7.2's lib-name and lib-ver. Memory
// fields are redverb's own: qbuf is the client's input read but not yet
// run, omem the replies waiting to be written to it (what
// --client-output-buffer-limit counts), tot-mem the buffers the session
// holds. argv is the arguments of the command running, for the client
// asking (its own CLIENT LIST or INFO).
func (s *Session) describe(now time.Time, argv [][]byte) string {
	ci := s.info.Load()
	if ci == nil {
		ci = &clientInfo{flags: "N", multi: -1, proto: 2, user: "default", redir: -1}
	}
	flags := ci.flags
	if s.blocked.busy() {
		flags = strings.TrimPrefix(flags+"b", "N")
	}
	cmd := "NULL"
	if c := s.lastCmd.Load(); c != nil {
		cmd = *c
	}
	argvMem := 0
	for _, a := range argv {
		argvMem += len(a)
	}
	m := &s.mem
	omem := m.out.Load()
	oll := min(omem, 1)
	qbuf, qbufFree, rbs := m.qbuf.Load(), m.qbufFree.Load(), m.rbs.Load()
	if argv != nil {
		// The command running is still in the query buffer, as Redis
		// counts it.
		qbuf += int64(len(resp.AppendCommand(nil, argv...)))
	}
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=0 name=%s age=%d idle=%d flags=%s db=%d sub=0 psub=0 ssub=0 multi=%d "+
		"qbuf=%d qbuf-free=%d argv-mem=%d multi-mem=0 rbs=%d rbp=%d obl=0 oll=%d omem=%d tot-mem=%d events=r cmd=%s user=%s redir=%d resp=%d lib-name=%s lib-ver=%s\n",
		s.id, s.nc.RemoteAddr(), s.nc.LocalAddr(), ci.name,
		int(now.Sub(s.created).Seconds()), int(now.Sub(time.Unix(0, s.lastSeen.Load())).Seconds()),
		flags, ci.db, ci.multi, qbuf, qbufFree, argvMem, rbs, m.rbp.Load(), oll, omem,
		sessionSize+qbuf+qbufFree+rbs+omem, cmd, ci.user, ci.redir, ci.proto, ci.libName, ci.libVer)
}

// clientList answers CLIENT LIST [TYPE normal|master|replica|pubsub] and
// CLIENT LIST ID id [id ...] as Redis 7.0 does.
func clientList(s *Session, args [][]byte) {
	s.publishInfo()
	s.publishMem(len(s.out))
	sessions := s.srv.sessionsSnapshot()
	switch {
	case len(args) == 4 && strings.EqualFold(string(args[2]), "type"):
		typ := strings.ToLower(string(args[3]))
		switch typ {
		case "normal", "pubsub":
		case "master", "slave", "replica":
			sessions = nil // redverb has no replication clients
		default:
			s.out = resp.AppendError(s.out, "ERR Unknown client type '"+string(args[3])+"'")
			return
		}
		sessions = slices.DeleteFunc(sessions, func(o *Session) bool { return (typ == "pubsub") != o.isSubscriber() })
	case len(args) > 3 && strings.EqualFold(string(args[2]), "id"):
		var byID []*Session
		for _, a := range args[3:] {
			id, err := strconv.ParseInt(string(a), 10, 64)
			if err != nil {
				s.out = resp.AppendError(s.out, "ERR Invalid client ID")
				return
			}
			if o := s.srv.session(uint64(id)); o != nil && id > 0 {
				byID = append(byID, o)
			}
		}
		sessions = byID
	case len(args) != 2:
		s.out = resp.AppendError(s.out, "ERR syntax error")
		return
	}
	var b strings.Builder
	now := time.Now()
	for _, other := range sessions {
		if !other.killed.Load() {
			var argv [][]byte
			if other == s {
				argv = args
			}
			b.WriteString(other.describe(now, argv))
		}
	}
	s.out = s.proto.appendText(s.out, b.String())
}

// sessionSize is what a Session takes before its buffers, for tot-mem.
const sessionSize = int64(unsafe.Sizeof(Session{}))

// sessionMem is what CLIENT LIST shows of a session's buffers, published
// by the session and read by whoever lists it.
type sessionMem struct {
	qbuf, qbufFree atomic.Int64 // input held, and room left in its buffer
	rbs, rbp       atomic.Int64 // reply buffer size, and its peak
	out            atomic.Int64 // replies not yet written
}

// publishMem records the session's buffers, with out bytes of replies
// waiting to be written.
func (s *Session) publishMem(out int) {
	m := &s.mem
	held, room := s.in.held()
	m.qbuf.Store(int64(held))
	m.qbufFree.Store(int64(room))
	m.rbs.Store(int64(cap(s.out)))
	if int64(cap(s.out)) > m.rbp.Load() {
		m.rbp.Store(int64(cap(s.out)))
	}
	m.out.Store(int64(out))
}

// setLastCmd records the command the client runs, as CLIENT LIST's cmd=
// shows it (client|list for a subcommand). A known command's name is its
// table row's, which never changes: nothing is allocated.
func (s *Session) setLastCmd(c *command) {
	if c.spec.flags&container == 0 && c.spec.name != "" {
		s.lastCmd.Store(&c.spec.name)
		return
	}
	full := c.lastName(s.nameBuf)
	if cur := s.lastCmd.Load(); cur != nil && *cur == full {
		return
	}
	s.lastCmd.Store(&full)
}

// clientFlag sets a CLIENT NO-EVICT or NO-TOUCH flag from ON or OFF.
func (s *Session) clientFlag(args [][]byte, flag *bool) {
	switch {
	case len(args) != 3:
		s.arityError("client|" + strings.ToLower(string(args[1])))
	case strings.EqualFold(string(args[2]), "on"):
		*flag = true
		s.out = append(s.out, "+OK\r\n"...)
	case strings.EqualFold(string(args[2]), "off"):
		*flag = false
		s.out = append(s.out, "+OK\r\n"...)
	default:
		s.out = resp.AppendError(s.out, "ERR syntax error")
	}
}
