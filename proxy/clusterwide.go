package proxy

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/internal/scancursor"
	"github.com/redverb/redverb/internal/slotsplit"
)

// Commands a client of one Redis expects to act on the whole database,
// answered on a cluster by asking every master (or the right one) and
// combining the replies as one Redis would answer. Multi-key commands whose
// keys span slots are split per slot: each strategy is one small value.
// The command table (table.go) names them.

// clusterCommand is a handler, or a split strategy.
type clusterCommand struct {
	run   func(*Session, [][]byte)
	split *slotsplit.Strategy
}

// runSplit runs a call whose keys span slots as one command per slot,
// and answers with the merged replies (or the first error).
func runSplit(s *Session, st *slotsplit.Strategy, args [][]byte) {
	cmds, slots, keysOf := st.Split(args)
	raws := make([][]byte, len(cmds))
	targets := make([]backend.Target, len(cmds))
	for i, c := range cmds {
		raws[i] = resp.AppendCommand(nil, c...)
		targets[i] = backend.Target(slots[i])
	}
	parts := sendEach(s, raws, targets)
	if answeredError(s, parts) {
		return
	}
	s.out = append(s.out, st.Merge(parts, keysOf, (len(args)-1)/st.Step, s.proto.appendNull(nil))...)
}

// sendEach sends commands to their targets as one scattered batch and
// returns the replies in order.
func sendEach(s *Session, raws [][]byte, targets []backend.Target) [][]byte {
	req := &backend.Request{Cmds: raws, Done: make(chan struct{}, 1), Limit: s.req.Limit}
	rt := &backend.Routing{Targets: targets}
	s.srv.Backend.Do(s.key(), s.id, req, rt)
	parts := make([][]byte, len(raws))
	for i := range parts {
		parts[i] = req.Reply(i)
	}
	return parts
}

// onMasters sends one command to every master at once and returns the
// replies in the masters' order.
func onMasters(s *Session, args [][]byte) [][]byte { return onNodes(s, s.srv.Backend.Masters, args) }

// onNodes sends one command to every node list gives, at once, and returns
// the replies in its order.
func onNodes(s *Session, list func() ([]*backend.Node, error), args [][]byte) [][]byte {
	masters, err := list()
	if err != nil {
		return [][]byte{appendBackendError(nil, err)}
	}
	return s.srv.Backend.OnNodes(s.key(), s.id, masters, resp.AppendCommand(nil, args...), s.req.Limit)
}

// answeredError appends the first error reply among parts, if any, and
// reports whether it did.
func answeredError(s *Session, parts [][]byte) bool {
	for _, p := range parts {
		if resp.IsError(p) {
			s.out = append(s.out, p...)
			return true
		}
	}
	return false
}

// clusterEveryMaster runs a command on every master (FLUSHALL, FLUSHDB):
// the first error, or the first master's reply.
func clusterEveryMaster(s *Session, args [][]byte) {
	parts := onMasters(s, args)
	if answeredError(s, parts) {
		return
	}
	s.out = append(s.out, parts[0]...)
}

// clusterDBSize adds up the masters' DBSIZE.
func clusterDBSize(s *Session, args [][]byte) {
	parts := onMasters(s, args)
	if answeredError(s, parts) {
		return
	}
	s.out = append(s.out, slotsplit.Sum(parts)...)
}

// clusterKeys concatenates the masters' KEYS.
func clusterKeys(s *Session, args [][]byte) {
	parts := onMasters(s, args)
	if answeredError(s, parts) {
		return
	}
	var keys [][]byte
	for _, p := range parts {
		keys = append(keys, resp.SplitArray(p)...)
	}
	s.out = resp.AppendHeader(s.out, '*', len(keys))
	for _, k := range keys {
		s.out = append(s.out, k...)
	}
}

// clusterRandomKey asks the masters in random order for a key until one
// has one.
func clusterRandomKey(s *Session, args [][]byte) {
	masters, err := s.srv.Backend.Masters()
	if err != nil {
		s.out = appendBackendError(s.out, err)
		return
	}
	var reply []byte
	for _, i := range rand.Perm(len(masters)) {
		reply = onNode(s, masters[i], args)
		if !bytes.Equal(reply, []byte("$-1\r\n")) && !bytes.Equal(reply, []byte("_\r\n")) {
			break
		}
	}
	s.out = append(s.out, reply...)
}

// onNode sends one command to one server and returns its reply.
func onNode(s *Session, n *backend.Node, args [][]byte) []byte {
	return s.srv.Backend.OnNodes(s.key(), s.id, []*backend.Node{n}, resp.AppendCommand(nil, args...), 0)[0]
}

// clusterScan scans the masters one after the other, with a cursor that
// names the master (see package scancursor), so a full iteration visits
// every key once.
func clusterScan(s *Session, args [][]byte) {
	cursor, err := strconv.ParseUint(string(args[min(1, len(args)-1)]), 10, 64)
	masters, merr := s.srv.Backend.Masters()
	if len(args) < 2 || err != nil || merr != nil || len(masters) >= scancursor.MaxServers {
		s.forward(args...) // Redis's own error for a bad call
		return
	}
	idx, own := scancursor.Decode(cursor)
	if idx >= len(masters) {
		s.out = resp.AppendError(s.out, "ERR invalid cursor")
		return
	}
	call := append([][]byte{args[0], strconv.AppendUint(nil, own, 10)}, args[2:]...)
	reply := onNode(s, masters[idx], call)
	elems := resp.SplitArray(reply)
	if len(elems) != 2 {
		s.out = append(s.out, reply...)
		return
	}
	next, _ := strconv.ParseUint(string(resp.Text(elems[0])), 10, 64)
	s.out = resp.AppendHeader(s.out, '*', 2)
	s.out = resp.AppendBulk(s.out, strconv.FormatUint(scancursor.Next(idx, len(masters), next), 10))
	s.out = append(s.out, elems[1]...)
}

// clusterScript runs SCRIPT LOAD, FLUSH and KILL on every master, so an
// EVALSHA finds its script wherever its keys live; SCRIPT EXISTS says 1
// only for scripts every master has.
func clusterScript(s *Session, args [][]byte) {
	switch subcommand(args) {
	case "load", "flush":
		clusterEveryMaster(s, args)
	case "kill":
		clusterKill(s, args)
	case "exists":
		parts := onMasters(s, args)
		if answeredError(s, parts) {
			return
		}
		all := resp.SplitArray(parts[0])
		for _, p := range parts[1:] {
			for i, v := range resp.SplitArray(p) {
				if i < len(all) && resp.Int(v) == 0 {
					all[i] = v
				}
			}
		}
		s.out = appendArray(s.out, all)
	default:
		s.forward(args...)
	}
}

// clusterFunction runs the FUNCTION subcommands that change libraries on
// every master; the others (LIST, DUMP, STATS) ask one.
func clusterFunction(s *Session, args [][]byte) {
	switch subcommand(args) {
	case "load", "delete", "flush", "restore":
		clusterEveryMaster(s, args)
	case "kill":
		clusterKill(s, args)
	case "stats":
		s.runOutOfBand(args...)
	default:
		s.forward(args...)
	}
}

// clusterKill sends SCRIPT KILL or FUNCTION KILL to every master out of
// band: OK if one of them was running a script, else the first refusal
// (NOTBUSY).
func clusterKill(s *Session, args [][]byte) {
	masters, err := s.srv.Backend.Masters()
	if err != nil {
		s.out = appendBackendError(s.out, err)
		return
	}
	start := len(s.out)
	var first []byte
	for _, n := range masters {
		s.runOutOfBandOn(n, args...)
		reply := bytes.Clone(s.out[start:])
		s.out = s.out[:start]
		if !resp.IsError(reply) {
			s.out = append(s.out, reply...)
			return
		}
		if first == nil {
			first = reply
		}
	}
	s.out = append(s.out, first...)
}

// clusterWait runs WAIT on the master of the client's last keyed command,
// the one whose replicas hold that write.
func clusterWait(s *Session, args [][]byte) {
	s.runBlockingAt(s.lastTarget.Master(), command{args: args, raw: resp.AppendCommand(nil, args...)}, waitBlocked)
}

// clusterOK accepts READONLY, READWRITE and ASKING, which need no action
// from a client of redverb.
func clusterOK(s *Session, _ [][]byte) { s.out = append(s.out, "+OK\r\n"...) }

// subcommand is a command's lower-cased subcommand, "" if none.
func subcommand(args [][]byte) string {
	if len(args) < 2 {
		return ""
	}
	return string(lowerName(nil, args[1]))
}

// clusterConfig: a setting takes effect on every master and replica, as on
// the one server a client believes it talks to; CONFIG GET answers from
// one master.
func clusterConfig(s *Session, args [][]byte) {
	switch sub := subcommand(args); {
	case sub == "set" && setsPerServer(args):
		s.forward(args...) // where CONFIG GET reads
	case sub == "set" || sub == "resetstat" || sub == "rewrite":
		// Replicas too: they encode what they replicate by their own
		// settings, and serve reads with --read-from replicas.
		s.srv.Backend.NoteConfigSet(args)
		parts := onNodes(s, s.srv.Backend.Servers, args)
		if !answeredError(s, parts) {
			s.out = append(s.out, parts[0]...)
		}
	default:
		s.forward(args...)
	}
}

// perServerConfig are the settings that name one server (its address,
// ports, files) rather than how it behaves: set on every server they would
// clash (each master cannot listen on the first one's port). A CONFIG SET
// of one of them goes to the master CONFIG GET reads from.
var perServerConfig = map[string]bool{
	"port": true, "tls-port": true, "bind": true, "bind-source-addr": true, "unixsocket": true,
	"cluster-announce-ip": true, "cluster-announce-port": true, "cluster-announce-bus-port": true,
	"cluster-announce-tls-port": true, "cluster-announce-hostname": true,
	"replica-announce-ip": true, "replica-announce-port": true, "slave-announce-ip": true, "slave-announce-port": true,
	"dir": true, "dbfilename": true, "logfile": true, "pidfile": true, "appendfilename": true, "appenddirname": true,
}

func setsPerServer(args [][]byte) bool {
	for i := 2; i < len(args); i += 2 {
		if perServerConfig[string(lowerName(nil, args[i]))] {
			return true
		}
	}
	return false
}

// clusterACL: the commands that change users on every master and replica,
// since each server checks its own users (a client's AUTH, as redverb
// dials it anywhere for the client, included); the rest from one master.
func clusterACL(s *Session, args [][]byte) {
	switch subcommand(args) {
	case "setuser", "deluser", "load", "save":
		parts := onNodes(s, s.srv.Backend.Servers, args)
		if !answeredError(s, parts) {
			s.out = append(s.out, parts[0]...)
		}
	default:
		s.forward(args...)
	}
}

// clusterLatency: LATENCY RESET on every master (the events reset, summed),
// LATENCY HISTOGRAM combined; the rest from one master.
func clusterLatency(s *Session, args [][]byte) {
	switch subcommand(args) {
	case "histogram":
		clusterLatencyHistogram(s, args)
		return
	case "latest":
		clusterLatencyLatest(s, args)
		return
	case "reset":
	default:
		s.forward(args...)
		return
	}
	parts := onMasters(s, args)
	if !answeredError(s, parts) {
		s.out = append(s.out, slotsplit.Sum(parts)...)
	}
}

// clusterSlowlog: RESET on every master, LEN summed, GET the newest
// entries of all masters together.
func clusterSlowlog(s *Session, args [][]byte) {
	switch sub := subcommand(args); {
	case sub == "reset":
		clusterEveryMaster(s, args)
	case sub == "len" && len(args) == 2:
		if entries, ok := clusterSlowlogEntries(s, args[0]); ok {
			s.out = resp.AppendHeader(s.out, ':', len(entries))
		}
	case sub == "get" && len(args) <= 3:
		count := 10
		if len(args) == 3 {
			n, err := strconv.Atoi(string(args[2]))
			if err != nil || n < -1 {
				s.forward(args...) // the backend's own error
				return
			}
			count = n
		}
		if entries, ok := clusterSlowlogEntries(s, args[0]); ok {
			if count >= 0 && count < len(entries) {
				entries = entries[:count]
			}
			s.out = appendArray(s.out, entries)
		}
	default:
		s.forward(args...)
	}
}

// clusterSlowlogEntries returns every master's slow log as one server's,
// newest first. A command redverb sent to every master for one client call
// (SLOWLOG RESET, CONFIG SET, ...) is listed once, from the first master,
// and orders the rest: what a master logged after it is newer than what
// any master logged before it. Between two such commands, entries are
// merged by time, each master's in its own order. Like one server, the
// list holds at most slowlog-max-len entries. On an error reply it answers
// the client and reports false.
func clusterSlowlogEntries(s *Session, name []byte) ([][]byte, bool) {
	parts := onMasters(s, [][]byte{name, []byte("GET"), []byte("-1")})
	if answeredError(s, parts) {
		return nil, false
	}
	// segments[i][j]: master i's entries after its j-th newest broadcast
	// command (j = 0: after none), newest first; anchors[j] ends segment j.
	segments := make([][][][]byte, len(parts))
	var anchors [][]byte
	for i, p := range parts {
		seg := [][]byte{}
		for _, e := range resp.SplitArray(p) {
			if f := resp.SplitArray(e); len(f) > 4 && s.srv.Backend.OwnClient(resp.Text(f[4])) {
				continue // go-redis reading the topology for redverb
			}
			if !broadcast[slowlogCommand(s.srv.commands(), e)] {
				seg = append(seg, e)
				continue
			}
			segments[i] = append(segments[i], seg)
			if len(segments[i]) > len(anchors) {
				anchors = append(anchors, e) // the first master's, unless it has fewer
			}
			seg = [][]byte{}
		}
		segments[i] = append(segments[i], seg)
	}
	var entries [][]byte
	for j := 0; j <= len(anchors); j++ {
		var lists [][][]byte
		for i := range segments {
			if j < len(segments[i]) {
				lists = append(lists, segments[i][j])
			}
		}
		entries = mergeNewestFirst(entries, lists)
		if j < len(anchors) {
			entries = append(entries, anchors[j])
		}
	}
	if limit := s.srv.Backend.SlowlogMaxLen(); limit >= 0 && len(entries) > limit {
		entries = entries[:limit]
	}
	return entries, true
}

// mergeNewestFirst appends the entries of lists, each newest first, newest
// first by their time, keeping each list's own order.
func mergeNewestFirst(dst [][]byte, lists [][][]byte) [][]byte {
	for {
		best := -1
		var bestTime int
		for i, l := range lists {
			if len(l) == 0 {
				continue
			}
			f := resp.SplitArray(l[0])
			t := 0
			if len(f) > 1 {
				t = resp.Int(f[1])
			}
			if best < 0 || t > bestTime {
				best, bestTime = i, t
			}
		}
		if best < 0 {
			return dst
		}
		dst = append(dst, lists[best][0])
		lists[best] = lists[best][1:]
	}
}

// slowlogCommand is the command of a slow log entry as commandstats names
// it: "get", or "config|set" for a container command.
func slowlogCommand(t *table, entry []byte) string {
	f := resp.SplitArray(entry)
	if len(f) < 4 {
		return ""
	}
	var args [][]byte
	for _, a := range resp.SplitArray(f[3]) {
		args = append(args, resp.Text(a))
	}
	if len(args) == 0 {
		return ""
	}
	c := t.lookup(args)
	return c.lastName(nil)
}

// clusterDebug: subcommands about a key go to its master; those that
// change how a server behaves (SET-ACTIVE-EXPIRE, RELOAD, ...) go to every
// master; the rest (SLEEP, ...) to one master, on a connection of their
// own.
func clusterDebug(s *Session, args [][]byte) {
	switch sub := subcommand(args); {
	case keyedDebug[sub] && len(args) > 2:
		parts := sendEach(s, [][]byte{resp.AppendCommand(nil, args...)}, []backend.Target{backend.Target(keyslot.Slot(args[2]))})
		s.out = append(s.out, parts[0]...)
	case serverDebug[sub]:
		clusterEveryMaster(s, args)
	default:
		s.runBlocking(command{args: args, raw: resp.AppendCommand(nil, args...)}, waitLong)
	}
}

// keyedDebug are the DEBUG subcommands whose first argument is a key.
var keyedDebug = map[string]bool{"object": true, "digest-value": true, "listpack": true, "ziplist": true, "quicklist": true}

// serverDebug are the DEBUG subcommands that change how a server behaves.
var serverDebug = map[string]bool{
	"set-active-expire": true, "reload": true, "quicklist-packed-threshold": true, "set-disable-deny-scripts": true,
	"change-repl-id": true, "set-skip-checksum-validation": true, "pause-cron": true, "replybuffer": true,
	"dict-resizing": true, "loadaof": true, "flushall": true,
}

// sortByDesc sorts entries by key, largest first.
func sortByDesc(entries [][]byte, key func([]byte) (int64, int64)) {
	slices.SortStableFunc(entries, func(a, b []byte) int {
		a1, a2 := key(a)
		b1, b2 := key(b)
		if c := cmp.Compare(b1, a1); c != 0 {
			return c
		}
		return cmp.Compare(b2, a2)
	})
}

// appendArray writes elems, each a whole reply, as one array reply.
func appendArray(dst []byte, elems [][]byte) []byte {
	dst = resp.AppendHeader(dst, '*', len(elems))
	for _, e := range elems {
		dst = append(dst, e...)
	}
	return dst
}

// clusterLatencyLatest answers LATENCY LATEST with every master's events:
// per event, the latest sample and the largest.
func clusterLatencyLatest(s *Session, args [][]byte) {
	parts := onMasters(s, args)
	if answeredError(s, parts) {
		return
	}
	var names []string
	events := map[string][4]int{} // time, latest, max (index 0 unused)
	for _, p := range parts {
		for _, e := range resp.SplitArray(p) {
			f := resp.SplitArray(e)
			if len(f) < 4 {
				continue
			}
			name := string(resp.Text(f[0]))
			cur, seen := events[name]
			if !seen {
				names = append(names, name)
			}
			if t := resp.Int(f[1]); t >= cur[1] {
				cur[1], cur[2] = t, resp.Int(f[2])
			}
			cur[3] = max(cur[3], resp.Int(f[3]))
			events[name] = cur
		}
	}
	s.out = resp.AppendHeader(s.out, '*', len(names))
	for _, name := range names {
		e := events[name]
		s.out = resp.AppendHeader(s.out, '*', 4)
		s.out = resp.AppendBulk(s.out, name)
		for _, n := range e[1:] {
			s.out = resp.AppendHeader(s.out, ':', n)
		}
	}
}
