package proxy

import (
	"bytes"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/internal/keyspec"
	"github.com/redverb/redverb/internal/slotsplit"
	"github.com/redverb/redverb/internal/stats"
	"github.com/redverb/redverb/verb"
)

// The command table decides, once per client command and when it is read,
// everything the rest of the path needs: how the command runs (kind), what
// it may do (flags), its handler, its keys and its statistics. Like Redis's
// own lookupCommand, one lookup by lower-case name yields one row. The table
// is immutable; it is rebuilt as a whole when the verbs reload or the
// backend's COMMAND reply is first read.

// kind says how a command runs. Most commands are forwarded on a shared
// connection; the others need connection state that cannot be shared.
type kind uint8

const (
	kindShared        kind = iota // multiplexed with other clients' commands
	kindLocal                     // answered by the proxy (AUTH, SELECT, HELLO, ...)
	kindBlocking                  // may block: runs on a connection of its own
	kindTx                        // MULTI/WATCH: a connection of its own until EXEC/DISCARD/UNWATCH
	kindSubscribe                 // pub/sub: a connection of its own, streamed
	kindVerb                      // a registered verb (a script on the backend)
	kindOutOfBand                 // must reach the backend while it is busy with someone else's command
	kindClusterWide               // on a cluster, answered from several servers (see clusterwide.go)
	kindUnbounded                 // runs as long as it likes (a user script): a connection of its own
	kindMaybeBlocking             // a row's kind only: blocking with the BLOCK option, else shared
)

// flags are what a command may do, beside its kind.
type flags uint16

const (
	beforeAuth     flags = 1 << iota // may run before AUTH, as in Redis
	atOnceInMulti                    // a local command that runs at once inside MULTI (Redis queues the others)
	allowedBusy                      // runs while a script is busy (Redis's allow_busy)
	unsubscribes                     // local only for a client with no subscriptions
	heldByPause                      // CLIENT PAUSE WRITE holds it (flag write, or may_replicate)
	container                        // CLIENT LIST's cmd= names its subcommand (client|list)
	runsScript                       // EVAL and friends: a user script
	runsFunction                     // FCALL and FCALL_RO: a user function
	refusedInMulti                   // Redis refuses it inside MULTI, aborting the transaction
	addsProxyInfo                    // INFO: the proxy adds its own section to the reply
	cachedRead                       // its reply may come from the cache (see cache.go)
	cachedPerKey                     // cached key by key (MGET)
	cachedPlain                      // its RESP3 reply is its RESP2 one but for nulls
)

// cmdSpec is one row of the table.
type cmdSpec struct {
	name  string // lower case; "client|list" for a subcommand
	kind  kind
	flags flags
	local func(*Session, [][]byte) // kindLocal
	wide  clusterCommand           // kindClusterWide: a handler or a split strategy
	keys  *keyspec.Command         // from the backend's COMMAND; nil if it has none
	verb  verb.Verb                // kindVerb, or a stand-in for some calls
	// standIn are the options whose calls the verb takes (upper case); if
	// nil, it takes every call of a kindVerb row.
	standIn []string
	subs    map[string]*cmdSpec // by lower-case subcommand
	inval   invalidation        // what running it means for the cache
	txRole  txRole              // MULTI, EXEC, DISCARD or RESET, for the cache's view of a transaction
	stats   atomic.Pointer[stats.CommandStats]
}

// row is one command the proxy decides about itself; every other command
// is the backend's, shared.
type row struct {
	name    string
	kind    kind
	flags   flags
	local   func(*Session, [][]byte)
	cluster clusterCommand // what a cluster backend runs instead, if set
	subs    []row
}

// rows are the commands the proxy treats otherwise than forwarding them on
// a shared connection. Adding a command the proxy answers itself is one
// row here and its handler. (A function: handlers reach the table.)
func rows() []row {
	return []row{
		// Answered by the proxy: they concern the client's own connection,
		// which the proxy owns; forwarding them would change a backend
		// connection that other clients share.
		{name: "auth", kind: kindLocal, flags: beforeAuth | allowedBusy, local: cmdAuth},
		{name: "hello", kind: kindLocal, flags: beforeAuth | allowedBusy, local: cmdHello},
		{name: "quit", kind: kindLocal, flags: beforeAuth | allowedBusy | atOnceInMulti, local: cmdQuit},
		{name: "reset", kind: kindLocal, flags: beforeAuth | allowedBusy | atOnceInMulti, local: cmdReset},
		{name: "select", kind: kindLocal, local: cmdSelect},
		{name: "client", kind: kindLocal, flags: container, local: cmdClient, subs: clientRows()},
		{name: "unsubscribe", kind: kindLocal, flags: unsubscribes, local: cmdUnsubscribe},
		{name: "punsubscribe", kind: kindLocal, flags: unsubscribes, local: cmdUnsubscribe},
		{name: "sunsubscribe", kind: kindLocal, flags: unsubscribes, local: cmdUnsubscribe},
		{name: "command", kind: kindLocal, flags: container, local: cmdCommand},
		{name: "redverb", kind: kindLocal, local: cmdRedverb},
		// Refused: they would hand a client the backend connection itself
		// (replication) or act on the whole backend in ways a proxy user
		// should not. Inside MULTI they answer for themselves.
		{name: "shutdown", kind: kindLocal, flags: atOnceInMulti | allowedBusy | refusedInMulti, local: cmdRefused},
		{name: "sync", kind: kindLocal, flags: atOnceInMulti | refusedInMulti, local: cmdRefused},
		{name: "psync", kind: kindLocal, flags: atOnceInMulti | refusedInMulti, local: cmdRefused},
		{name: "replconf", kind: kindLocal, flags: atOnceInMulti, local: cmdRefused},
		{name: "failover", kind: kindLocal, flags: atOnceInMulti, local: cmdRefused},

		{name: "multi", kind: kindTx, flags: allowedBusy},
		{name: "watch", kind: kindTx, flags: allowedBusy},
		{name: "discard", flags: allowedBusy},
		{name: "unwatch", flags: allowedBusy},
		{name: "subscribe", kind: kindSubscribe},
		{name: "psubscribe", kind: kindSubscribe},
		{name: "ssubscribe", kind: kindSubscribe},
		{name: "monitor", kind: kindSubscribe},

		{name: "blpop", kind: kindBlocking},
		{name: "brpop", kind: kindBlocking},
		{name: "brpoplpush", kind: kindBlocking},
		{name: "blmove", kind: kindBlocking},
		{name: "blmpop", kind: kindBlocking},
		{name: "bzpopmin", kind: kindBlocking},
		{name: "bzpopmax", kind: kindBlocking},
		{name: "bzmpop", kind: kindBlocking},
		{name: "wait", kind: kindBlocking, cluster: clusterCommand{run: clusterWait}},
		{name: "waitaof", kind: kindBlocking},
		{name: "xread", kind: kindMaybeBlocking},
		{name: "xreadgroup", kind: kindMaybeBlocking},

		// Nobody bounds how long a user's script or DEBUG SLEEP runs: on a
		// shared connection every other client's commands would wait behind
		// it, where Redis answers them (-BUSY once the script passes
		// busy-reply-threshold) and takes SCRIPT KILL.
		{name: "eval", kind: kindUnbounded, flags: runsScript},
		{name: "evalsha", kind: kindUnbounded, flags: runsScript},
		{name: "eval_ro", kind: kindUnbounded, flags: runsScript},
		{name: "evalsha_ro", kind: kindUnbounded, flags: runsScript},
		{name: "fcall", kind: kindUnbounded, flags: runsFunction},
		{name: "fcall_ro", kind: kindUnbounded, flags: runsFunction},
		{name: "debug", kind: kindUnbounded, cluster: clusterCommand{run: clusterDebug}},

		// Out of band: a runaway script holds its connection, and everything
		// queued behind it there, until SCRIPT KILL or FUNCTION KILL arrives
		// on another connection. Redis runs exactly these while a script is
		// busy (allow_busy).
		{name: "script", flags: container, cluster: clusterCommand{run: clusterScript}, subs: []row{
			{name: "kill", kind: kindOutOfBand, flags: allowedBusy}}},
		{name: "function", flags: container, cluster: clusterCommand{run: clusterFunction}, subs: []row{
			{name: "kill", kind: kindOutOfBand, flags: allowedBusy},
			{name: "stats", kind: kindOutOfBand, flags: allowedBusy}}},

		// Held by CLIENT PAUSE WRITE though COMMAND does not flag them write
		// (Redis 7.0's internal may-replicate flag).
		{name: "pfcount", flags: heldByPause},
		{name: "publish", flags: heldByPause},
		{name: "spublish", flags: heldByPause},

		// Whole-database commands, answered on a cluster by asking every
		// master (or the right one) and combining the replies as one Redis
		// would (see clusterwide.go).
		{name: "dbsize", cluster: clusterCommand{run: clusterDBSize}},
		{name: "keys", cluster: clusterCommand{run: clusterKeys}},
		{name: "scan", cluster: clusterCommand{run: clusterScan}},
		{name: "flushall", cluster: clusterCommand{run: clusterEveryMaster}},
		{name: "flushdb", cluster: clusterCommand{run: clusterEveryMaster}},
		{name: "randomkey", cluster: clusterCommand{run: clusterRandomKey}},
		{name: "info", flags: addsProxyInfo, cluster: clusterCommand{run: clusterInfo}},
		{name: "config", flags: container, cluster: clusterCommand{run: clusterConfig}},
		{name: "slowlog", flags: container, cluster: clusterCommand{run: clusterSlowlog}},
		{name: "latency", flags: container, cluster: clusterCommand{run: clusterLatency}},
		{name: "acl", flags: container, cluster: clusterCommand{run: clusterACL}},
		// Connection modes of cluster clients: they would change a shared
		// connection, and redverb does the cluster's routing itself.
		{name: "readonly", cluster: clusterCommand{run: clusterOK}},
		{name: "readwrite", cluster: clusterCommand{run: clusterOK}},
		{name: "asking", cluster: clusterCommand{run: clusterOK}},
		// Multi-key commands, split per slot when their keys span slots.
		{name: "mget", cluster: clusterCommand{split: slotsplit.MGet}},
		{name: "mset", cluster: clusterCommand{split: slotsplit.MSet}},
		{name: "del", cluster: clusterCommand{split: slotsplit.Count}},
		{name: "unlink", cluster: clusterCommand{split: slotsplit.Count}},
		{name: "exists", cluster: clusterCommand{split: slotsplit.Count}},
		{name: "touch", cluster: clusterCommand{split: slotsplit.Count}},

		// Redis 7.0's other container commands, for CLIENT LIST's cmd=.
		{name: "cluster", flags: container},
		{name: "memory", flags: container},
		{name: "module", flags: container},
		{name: "object", flags: container},
		{name: "pubsub", flags: container},
		{name: "xgroup", flags: container},
		{name: "xinfo", flags: container},
	}
}

// table is the command table in force.
type table struct {
	byName map[string]*cmdSpec
	// unknown is the row of every name neither the backend nor the proxy
	// knows: forwarded, keyless, counted as "other".
	unknown *cmdSpec
	// verbs are the verbs in force on this backend: a stand-in only where
	// the backend lacks its command or some of its options.
	verbs []verb.Info
	// provisional: built without the backend's COMMAND reply (it was
	// unreachable); rebuilt on use after provisionalFor.
	provisional bool
	builtAt     time.Time
}

const provisionalFor = time.Second

// commandFacts is what the table reads from the backend.
type commandFacts interface {
	verb.Native
	// CommandKeys are the backend's commands by lower-case name
	// (subcommands as "name|sub"); nil while it is unreachable.
	CommandKeys() map[string]*keyspec.Command
	// SeveralServers reports whether the backend is several servers a
	// client must see as one (a cluster): whole-database commands, and
	// multi-key commands whose keys span slots, are answered across them.
	SeveralServers() bool
}

// buildTable makes the table for a backend and a set of verbs (nil: none).
func buildTable(b commandFacts, verbs verb.Set) *table {
	t := &table{byName: map[string]*cmdSpec{}, unknown: &cmdSpec{}, builtAt: time.Now()}
	t.unknown.stats.Store(counters.Other())
	facts := b.CommandKeys()
	t.provisional = facts == nil
	for name, ck := range facts {
		var sp *cmdSpec
		if cmd, sub, ok := strings.Cut(name, "|"); ok {
			sp = t.sub(cmd, sub)
		} else {
			sp = t.spec(name)
		}
		sp.keys = ck
		if ck.Write {
			sp.flags |= heldByPause
		}
	}
	cluster := b.SeveralServers()
	for _, r := range rows() {
		sp := t.spec(r.name)
		sp.kind, sp.flags, sp.local = r.kind, sp.flags|r.flags, r.local
		if cluster && (r.cluster.run != nil || r.cluster.split != nil) {
			sp.kind, sp.wide = kindClusterWide, r.cluster
		}
		for _, sr := range r.subs {
			sub := t.sub(r.name, sr.name)
			sub.kind, sub.flags, sub.local = sr.kind, sub.flags|sr.flags, sr.local
		}
	}
	for _, sp := range t.byName {
		for _, sub := range sp.subs {
			// A subcommand runs as its command does, unless its own row
			// says otherwise (and a cluster-wide command is one whole).
			if sub.kind == kindShared || sp.kind == kindClusterWide {
				sub.kind, sub.wide = sp.kind, sp.wide
			}
			if sub.local == nil {
				sub.local = sp.local
			}
			sub.flags |= sp.flags &^ container
		}
	}
	if verbs != nil {
		t.addVerbs(b, verbs)
	}
	for name, f := range cachedReads {
		// A cluster-wide MGET is cached when its keys share a slot (it
		// then runs as a shared command).
		if sp := t.byName[name]; sp != nil && sp.keys != nil && sp.keys.ReadOnly && (sp.kind == kindShared || sp.wide.split != nil) {
			sp.flags |= cachedRead | f
		}
	}
	t.unknown.inval = invalidationOf(t.unknown)
	for name, role := range txRoles {
		if sp := t.byName[name]; sp != nil {
			sp.txRole = role
		}
	}
	for _, sp := range t.byName {
		sp.inval = invalidationOf(sp)
		for _, sub := range sp.subs {
			sub.inval = invalidationOf(sub)
		}
	}
	return t
}

// addVerbs puts the verbs in. A verb takes only a shared command's place;
// a stand-in takes the calls the backend cannot answer itself.
func (t *table) addVerbs(native verb.Native, verbs verb.Set) {
	for _, v := range verbs.Verbs() {
		info := v.Info()
		every, options := true, []string(nil)
		if info.Emulates != nil {
			every, options = info.Emulates.Claims(info.Name, native)
			if !every && options == nil {
				continue // the backend answers every call itself
			}
		}
		t.verbs = append(t.verbs, info)
		sp := t.spec(info.Name)
		if sp.kind != kindShared {
			continue
		}
		sp.verb, sp.standIn = v, options
		if every {
			sp.kind = kindVerb
		}
	}
}

// spec returns the row of name, adding it.
func (t *table) spec(name string) *cmdSpec {
	sp := t.byName[name]
	if sp == nil {
		sp = &cmdSpec{name: name}
		t.byName[name] = sp
	}
	return sp
}

// sub returns the row of a subcommand, adding it.
func (t *table) sub(name, sub string) *cmdSpec {
	sp := t.spec(name)
	if sp.subs == nil {
		sp.subs = map[string]*cmdSpec{}
	}
	s := sp.subs[sub]
	if s == nil {
		s = &cmdSpec{name: name + "|" + sub}
		sp.subs[sub] = s
	}
	return s
}

// classify fills c's row and kind, with one lower-casing of its name into
// buf (returned for reuse) and one lookup; a container command's
// subcommand takes a second. Refinements by option (XREAD ... BLOCK), by
// keys (a split command whose keys span slots) and by stand-in option
// (SET ... IFEQ) are decided here too.
func (t *table) classify(c *command, buf []byte) []byte {
	buf = lowerName(buf, c.args[0])
	sp := t.byName[string(buf)]
	if sp == nil {
		c.spec, c.kind = t.unknown, kindShared
		return buf
	}
	if sp.subs != nil && len(c.args) > 1 {
		var sub [32]byte
		if len(c.args[1]) <= len(sub) {
			if s := sp.subs[string(lowerName(sub[:0], c.args[1]))]; s != nil {
				sp = s
			}
		}
	}
	c.spec, c.kind = sp, sp.kind
	switch {
	case sp.kind == kindMaybeBlocking:
		c.kind = kindShared
		if blockOption(c.args) {
			c.kind = kindBlocking
		}
	case sp.kind == kindClusterWide && sp.wide.split != nil:
		if sp.wide.split.WellFormed(c.args) && !sp.wide.split.SpansSlots(c.args) {
			c.kind = kindShared // goes as it is, batched with its neighbours
		}
	case sp.standIn != nil && verb.UsesOption(c.args, sp.standIn):
		c.kind = kindVerb
	}
	return buf
}

// blockOption reports whether XREAD or XREADGROUP has BLOCK before STREAMS.
func blockOption(args [][]byte) bool {
	for _, a := range args[1:] {
		if bytes.EqualFold(a, []byte("streams")) {
			return false
		}
		if bytes.EqualFold(a, []byte("block")) {
			return true
		}
	}
	return false
}

// lookup classifies a command the proxy sends of its own (a handler
// forwarding what it was given, or something else).
func (t *table) lookup(args [][]byte) command {
	c := command{args: args}
	t.classify(&c, nil)
	return c
}

// runWide answers a kindClusterWide command as a cluster must.
func (c *command) runWide(s *Session) {
	w := c.spec.wide
	switch {
	case w.split == nil:
		w.run(s, c.args)
	case !w.split.WellFormed(c.args):
		// MSET with a key and no value: Redis's own arity error. Its
		// keys may span slots, which a cluster node would answer first.
		s.arityError(c.spec.name)
	default:
		runSplit(s, w.split, c.args)
	}
}

// counter is the row's statistics, made on first use.
func (sp *cmdSpec) counter() *stats.CommandStats {
	if c := sp.stats.Load(); c != nil {
		return c
	}
	c := counters.Named(sp.name)
	sp.stats.Store(c)
	return c
}

// lastName is the command as CLIENT LIST's cmd= names it: its row's name,
// or for a container command's unknown subcommand, name|sub.
func (c *command) lastName(buf []byte) string {
	sp := c.spec
	switch {
	case sp.flags&container != 0 && len(c.args) > 1:
		return sp.name + "|" + string(lowerName(nil, c.args[1]))
	case sp.name == "":
		return string(lowerName(buf, c.args[0]))
	}
	return sp.name
}

// lowerName lower-cases a command name into buf (reused by the caller), so
// that map lookups written as m[string(name)] do not allocate.
func lowerName(buf []byte, name []byte) []byte {
	buf = buf[:0]
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// commands returns the command table in force, building it on first use
// and again while it is provisional.
func (srv *Server) commands() *table {
	t := srv.table.Load()
	if t != nil && (!t.provisional || time.Since(t.builtAt) < provisionalFor) {
		return t
	}
	srv.tableMu.Lock()
	defer srv.tableMu.Unlock()
	if t = srv.table.Load(); t == nil || t.provisional && time.Since(t.builtAt) >= provisionalFor {
		t = buildTable(srv.Backend, srv.Verbs)
		srv.table.Store(t)
	}
	return t
}

// ReloadVerbs rereads the verbs and puts them in force: the command table
// is replaced as a whole. On error the previous verbs stay.
func (srv *Server) ReloadVerbs() error {
	if err := srv.Verbs.Reload(); err != nil {
		return err
	}
	srv.tableMu.Lock()
	defer srv.tableMu.Unlock()
	srv.table.Store(buildTable(srv.Backend, srv.Verbs))
	return nil
}
