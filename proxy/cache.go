package proxy

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/cache"
	"github.com/redverb/redverb/internal/resp"
)

// With Server.Cache set, the replies of some reads are kept and served
// from memory until Redis announces that their key changed (see
// backend.WatchInvalidations and package cache). A read is cached only
// on the shared path: never inside a transaction, under WATCH or CLIENT
// TRACKING, nor from a verb or a blocking command.

// cachedReads are the commands whose reply depends on their one key (the
// first argument) and nothing else: no clock, no randomness, no other
// key. A command joins the cache by a line here. MGET is answered key by
// key (cachedPerKey): each of its keys has its own entry. cachedPlain
// marks the replies that RESP3 writes as RESP2 does but for nulls (no
// map, set or double), which a RESP2 client may read from the tracking
// connection (see startTrackedFill).
var cachedReads = map[string]flags{
	"get": cachedPlain, "strlen": cachedPlain, "getrange": cachedPlain, "getbit": cachedPlain,
	"bitcount": cachedPlain, "bitpos": cachedPlain,
	"mget": cachedPerKey | cachedPlain,
	"hget": cachedPlain, "hmget": cachedPlain, "hexists": cachedPlain, "hlen": cachedPlain,
	"hkeys": cachedPlain, "hvals": cachedPlain, "hstrlen": cachedPlain, "hgetall": 0,
	"smembers": 0, "sismember": cachedPlain, "smismember": cachedPlain, "scard": cachedPlain,
	"zrange": 0, "zrangebyscore": 0, "zrangebylex": 0, "zrevrange": 0, "zrevrangebyscore": 0, "zrevrangebylex": 0,
	"zscore": 0, "zmscore": 0, "zcard": cachedPlain, "zcount": cachedPlain, "zlexcount": cachedPlain, "zrank": 0, "zrevrank": 0,
	"lrange": cachedPlain, "llen": cachedPlain, "lindex": cachedPlain, "lpos": cachedPlain,
	"exists": cachedPlain, "type": cachedPlain,
}

// invalidation is what a command's execution means for the cache.
type invalidation uint8

const (
	invNone  invalidation = iota // changes no key
	invKeys                      // changes the keys its key specs name
	invVerb                      // a verb: changes the keys its call names
	invSync                      // may change keys redverb cannot name: wait for Redis's announcements
	invFlush                     // changes every key (FLUSHALL, SWAPDB)
)

// txRole is what a command does to a client's transaction, as the cache
// follows it: the writes queued after MULTI count at EXEC.
type txRole uint8

const (
	txNone  txRole = iota
	txOpen         // MULTI
	txClose        // DISCARD, RESET
	txExec         // EXEC
)

var txRoles = map[string]txRole{"multi": txOpen, "discard": txClose, "reset": txClose, "exec": txExec}

// invalidationOf decides a row's invalidation when the table is built.
func invalidationOf(sp *cmdSpec) invalidation {
	switch {
	case sp.kind == kindLocal:
		return invNone
	case sp.name == "flushall" || sp.name == "flushdb" || sp.name == "swapdb":
		// Redis announces a flush, but not SWAPDB.
		return invFlush
	case sp.kind == kindVerb:
		return invVerb
	case sp.flags&(runsScript|runsFunction) != 0 || sp.name == "exec" || sp.keys == nil:
		return invSync // a script may touch keys it does not declare; nil: a command the backend did not describe
	case sp.keys.Write:
		return invKeys
	}
	return invNone
}

// cacheable reports whether c's reply may come from the cache.
func (s *Session) cacheable(c *command) bool {
	if c.kind != kindShared || c.spec.flags&cachedRead == 0 || len(c.args) < 2 ||
		s.ded != nil || s.tx.inMulti || s.track.enabled || len(s.track.conns) > 0 {
		return false
	}
	cc := s.srv.Cache
	if c.spec.flags&cachedPerKey == 0 {
		return (c.spec.name != "exists" || len(c.args) == 2) && cc.Covers(c.args[1])
	}
	for _, k := range c.args[1:] {
		if !cc.Covers(k) {
			return false
		}
	}
	return true
}

// cacheBatch is what runShared knows of the cache in the batch it builds.
type cacheBatch struct {
	on      bool
	now     time.Time // when the batch was built: before it was sent, as PTTL-bounded expiries need
	lead    int       // hits answered before anything else in the batch
	verbs   bool      // a verb or INFO is in the batch: their replies are rewritten otherwise
	anyKey  bool      // a write in the batch may change any key
	written [][]byte  // keys the batch's writes change
	read    [][]byte  // keys of the batch's reads on other connections (tracked, or joined)
}

func (cb *cacheBatch) reset(on bool) {
	clear(cb.written)
	clear(cb.read)
	*cb = cacheBatch{on: on, written: cb.written[:0], read: cb.read[:0]}
	if on {
		cb.now = time.Now()
	}
}

// admit decides about c, the n-th command of the batch: answered from the
// cache or sent as a fill (done), left to the next batch (stop), or sent
// as usual. A read of a key written earlier in the batch waits for the
// write, to see it; a write of a key a tracked or joined read in the batch
// reads waits for the read, which runs on another connection.
func (s *Session) admit(cb *cacheBatch, c *command, n int, t backend.Target) (done, stop bool) {
	if c.kind == kindVerb || c.spec.flags&addsProxyInfo != 0 {
		if cb.lead > 0 || len(s.hits) > 0 || len(s.cacheFills) > 0 || len(cb.read) > 0 {
			return false, true
		}
		cb.verbs, cb.anyKey = true, true
		return false, false
	}
	if s.cacheable(c) {
		keys := fillKeys(c)
		if cb.verbs || cb.anyKey || overlap(keys, cb.written) {
			return false, true
		}
		if n == cb.lead { // nothing before it in the batch waits for a reply
			var hit bool
			if s.out, hit = s.fromCache(s.out, c, cb.now); hit {
				cb.lead++
				return true, false
			}
		} else {
			start := len(s.hitBuf)
			var hit bool
			if s.hitBuf, hit = s.fromCache(s.hitBuf, c, cb.now); hit {
				s.hits = append(s.hits, cachedHit{cmd: n, start: start, end: len(s.hitBuf)})
				return true, false
			}
		}
		if s.beginFill(c, n, t) {
			cb.read = append(cb.read, keys...)
		}
		if t != backend.NoSlot {
			s.lastTarget = t
		}
		return true, false
	}
	switch c.spec.inval {
	case invNone:
		return false, false
	case invKeys:
		from := len(cb.written)
		cb.written = c.spec.keys.Keys(c.args, cb.written)
		return false, overlap(cb.written[from:], cb.read)
	}
	cb.anyKey = true
	return false, len(cb.read) > 0
}

// overlap reports whether a and b share a key.
func overlap(a, b [][]byte) bool {
	for _, x := range a {
		for _, y := range b {
			if bytes.Equal(x, y) {
				return true
			}
		}
	}
	return false
}

// cacheID is the entry of one reply: the client's database, protocol and
// backend user, and the command (or, per key, its name and the key).
func (s *Session) cacheID(dst []byte, name string, args [][]byte) []byte {
	dst = append(dst, byte(s.proto))
	dst = binary.AppendUvarint(dst, uint64(s.db))
	dst = binary.AppendUvarint(dst, uint64(len(s.user)))
	dst = append(dst, s.user...)
	dst = append(dst, name...)
	for _, a := range args {
		dst = binary.AppendUvarint(dst, uint64(len(a)))
		dst = append(dst, a...)
	}
	return dst
}

// fromCache appends c's cached reply to dst and reports whether there
// was one. MGET needs every key's.
func (s *Session) fromCache(dst []byte, c *command, now time.Time) ([]byte, bool) {
	cc := s.srv.Cache
	if c.spec.flags&cachedPerKey == 0 {
		s.idBuf = s.cacheID(s.idBuf[:0], c.spec.name, c.args[1:])
		var hit bool
		dst, hit = cc.Get(s.idBuf, dst, now)
		s.noteLookup(c, c.args[1], hit, now)
		return dst, hit
	}
	start := len(dst)
	dst = resp.AppendHeader(dst, '*', len(c.args)-1)
	for _, k := range c.args[1:] {
		s.idBuf = s.cacheID(s.idBuf[:0], c.spec.name, [][]byte{k})
		var hit bool
		dst, hit = cc.Get(s.idBuf, dst, now)
		s.noteLookup(c, k, hit, now)
		if !hit {
			return dst[:start], false
		}
	}
	return dst, true
}

// A cacheFill is a cached read sent in the batch: its reply, and a PTTL
// per key after it (an entry must not outlive its key), fill the cache.
//
// Where it can, a fill goes on the tracking connection of its key's
// master (a tracked read): there Redis's announcements and the reply come
// in the order Redis ran them, so a change announced during the read
// refuses the reply only if announced after it. On the shared connection,
// any change announced while the read is in flight refuses it, which under
// frequent writes leaves the hottest keys uncached.
type cacheFill struct {
	cmd   *command
	index int                  // the command's, in the batch
	reply int                  // on the shared connection: its reply's index in the request
	tr    *backend.TrackedRead // or on the tracking connection
	fills []cache.Fill
	// join, if set, is another client's read of the same entry, which
	// this one waits for instead of reading (see cache.BeginEntry).
	join <-chan struct{}
	out  []byte // the reply for the client, once in
}

// fillKeys are the keys whose entries c's reply fills.
func fillKeys(c *command) [][]byte {
	if c.spec.flags&cachedPerKey != 0 {
		return c.args[1:]
	}
	return c.args[1:2]
}

// beginFill registers c's read (the index-th command of the batch) before
// it is sent, and sends it with its PTTLs: on the tracking connection if
// it may, else in the batch; or, when another client is reading the same
// entry, it waits for that read instead. It reports whether c's reply
// comes from another connection than the batch's (tracked, or waited
// for): a write of the key later in the batch must then wait for it.
func (s *Session) beginFill(c *command, index int, t backend.Target) (elsewhere bool) {
	f := cacheFill{cmd: c, index: index, reply: len(s.req.Cmds)}
	keys := fillKeys(c)
	if c.spec.flags&cachedPerKey == 0 {
		s.idBuf = s.cacheID(s.idBuf[:0], c.spec.name, c.args[1:])
		fill, other := s.srv.Cache.BeginEntry(s.idBuf, keys[0])
		if other != nil {
			s.cacheFills = append(s.cacheFills, cacheFill{cmd: c, index: index, join: other})
			return true
		}
		f.fills = append(f.fills, fill)
	} else {
		for _, k := range keys {
			f.fills = append(f.fills, s.srv.Cache.Begin(k))
		}
	}
	cmds := append(s.fillCmds[:0], c.raw)
	for _, k := range keys {
		// A slice taken here stays right when pttlBuf grows: it keeps
		// the array it was taken from.
		from := len(s.pttlBuf)
		s.pttlBuf = resp.AppendCommand(s.pttlBuf, []byte("PTTL"), k)
		cmds = append(cmds, s.pttlBuf[from:len(s.pttlBuf):len(s.pttlBuf)])
	}
	s.fillCmds = cmds
	b := s.srv.Backend
	if s.db == b.TrackingDB() && s.user == "" && (s.proto == 3 || c.spec.flags&cachedPlain != 0) {
		f.tr = &backend.TrackedRead{Cmds: append([][]byte(nil), cmds...), Client: 1}
		if b.StartTrackedRead(t, f.tr) {
			s.cacheFills = append(s.cacheFills, f)
			return true
		}
		f.tr = nil
	}
	for _, cmd := range cmds {
		s.req.Cmds, s.routing.Targets = append(s.req.Cmds, cmd), append(s.routing.Targets, t)
	}
	s.cacheFills = append(s.cacheFills, f)
	return false
}

// finishCached rewrites the replies of cmds[from:] for the client: each
// hit in its place, and each fill's reply stored and its PTTLs taken out;
// sent is no later than when the batch was sent, for the PTTLs.
// (The hits before the batch's first sent command are in s.out already.)
// The session's own fills are stored before it waits for any other
// client's: two clients each waiting for the other's cannot happen.
func (s *Session) finishCached(cmds []command, from int, sent time.Time) {
	req, hits, fills := &s.req, s.hits, s.cacheFills
	for i := range fills {
		fl := &fills[i]
		switch {
		case fl.join != nil:
		case fl.tr != nil:
			fl.out = s.finishTracked(fl, sent)
		default:
			fl.out = req.Reply(fl.reply)
			s.storeFill(fl, fl.out, func(k int) []byte { return req.Reply(fl.reply + 1 + k) }, sent)
		}
	}
	out := append(s.rebuf[:0], s.out[:req.Base]...)
	j, h, f := 0, 0, 0 // next reply, hit, fill
	for i := from; i < len(cmds); i++ {
		switch {
		case h < len(hits) && hits[h].cmd == i:
			out = append(out, s.hitBuf[hits[h].start:hits[h].end]...)
			h++
		case f < len(fills) && fills[f].index == i:
			fl := &fills[f]
			if fl.join != nil {
				out = s.finishJoined(out, fl)
			} else {
				out = append(out, fl.out...)
			}
			if fl.join == nil && fl.tr == nil {
				j += 1 + len(fl.fills)
			}
			f++
		default:
			out = append(out, req.Reply(j)...)
			j++
		}
	}
	s.rebuf = s.out[:0]
	if cap(s.rebuf) > 64<<10 {
		s.rebuf = nil
	}
	s.out, req.Out = out, out
}

// endCached resets the batch's cache work; fills not finished (the client
// passed its output limit) are abandoned.
func (s *Session) endCached() {
	for i := range s.cacheFills {
		for j := range s.cacheFills[i].fills {
			s.srv.Cache.Abandon(&s.cacheFills[i].fills[j])
		}
	}
	clear(s.cacheFills)
	s.cacheFills, s.hits = s.cacheFills[:0], s.hits[:0]
	s.hitBuf, s.pttlBuf = s.hitBuf[:0], s.pttlBuf[:0]
	clear(s.fillCmds)
}

// finishJoined appends the reply of a read that waited for another
// client's read of its entry: the entry that one stored or, if it stored
// none, the reply of the command sent now (not cached).
func (s *Session) finishJoined(out []byte, fl *cacheFill) []byte {
	<-fl.join
	c := fl.cmd
	s.idBuf = s.cacheID(s.idBuf[:0], c.spec.name, c.args[1:])
	if out, hit := s.srv.Cache.GetJoined(s.idBuf, out, time.Now()); hit {
		return out
	}
	return append(out, s.sendAgain(c)...)
}

// sendAgain sends c alone on the shared path and returns its reply: for a
// read whose cache work gave no reply to store or serve.
func (s *Session) sendAgain(c *command) []byte {
	t := s.srv.Backend.TargetOf(c.spec.keys, c.args)
	return sendEach(s, [][]byte{c.raw}, []backend.Target{t})[0]
}

// finishTracked returns the reply of a tracked read for the client, and
// stores it. An error reply (a slot that moved, say) or a lost connection
// sends the command again on the shared path, whose reply the client gets
// uncached.
func (s *Session) finishTracked(fl *cacheFill, sent time.Time) []byte {
	tr := fl.tr
	<-tr.Done
	var reply []byte
	if tr.Err == nil && len(tr.Ends) == len(tr.Cmds) {
		reply = tr.Out[:tr.Ends[0]]
		if resp.IsError(reply) {
			reply = nil
		} else if s.proto == 2 {
			reply = resp2Of(nil, reply)
		}
	}
	if reply == nil {
		for i := range fl.fills {
			s.srv.Cache.Abandon(&fl.fills[i])
		}
		return s.sendAgain(fl.cmd)
	}
	for i := range fl.fills {
		fl.fills[i].RanAfter(tr.Mark)
	}
	s.storeFill(fl, reply, func(k int) []byte { return tr.Out[tr.Ends[k]:tr.Ends[k+1]] }, sent)
	return reply
}

// resp2Of appends to dst reply, a RESP3 reply of a cachedPlain command,
// as RESP2 writes it: nulls as null bulk strings. It returns nil for any
// other RESP3 type.
func resp2Of(dst, reply []byte) []byte {
	dst, rest := resp2Frame(dst, reply)
	if dst == nil || len(rest) != 0 {
		return nil
	}
	return dst
}

func resp2Frame(dst, r []byte) ([]byte, []byte) {
	line := bytes.IndexByte(r, '\n')
	if line < 2 {
		return nil, nil
	}
	head := r[:line+1]
	switch r[0] {
	case '_':
		return append(dst, "$-1\r\n"...), r[line+1:]
	case ':', '+', '-':
		return append(dst, head...), r[line+1:]
	case '$':
		n, err := strconv.Atoi(string(head[1 : len(head)-2]))
		if err != nil || n < 0 || len(r) < line+1+n+2 {
			return nil, nil
		}
		end := line + 1 + n + 2
		return append(dst, r[:end]...), r[end:]
	case '*':
		n, err := strconv.Atoi(string(head[1 : len(head)-2]))
		if err != nil {
			return nil, nil
		}
		dst, r = append(dst, head...), r[line+1:]
		for i := 0; i < n && dst != nil; i++ {
			dst, r = resp2Frame(dst, r)
		}
		return dst, r
	}
	return nil, nil
}

// cachedHit is a hit in a batch: the cmd-th command's reply is
// s.hitBuf[start:end].
type cachedHit struct{ cmd, start, end int }

// storeFill stores a fill's reply (each key's element, for MGET) with the
// expiry its PTTL (pttl(k) for its k-th key) gave; an error reply is not
// stored.
func (s *Session) storeFill(fl *cacheFill, reply []byte, pttl func(k int) []byte, sent time.Time) {
	cc := s.srv.Cache
	parts := [][]byte{reply}
	if fl.cmd.spec.flags&cachedPerKey != 0 {
		parts = resp.SplitArray(reply)
	}
	for i := range fl.fills {
		ttl := pttl(i)
		if resp.IsError(reply) || len(parts) != len(fl.fills) || ttl[0] != ':' || resp.Int(ttl) == -2 && !nullReply(parts[i]) {
			cc.Abandon(&fl.fills[i]) // an error, or the key went between the read and its PTTL
			continue
		}
		var expires time.Time
		if ms := resp.Int(ttl); ms >= 0 {
			expires = sent.Add(time.Duration(ms) * time.Millisecond) // no later than the key's expiry: the PTTL ran after sent
		}
		args := fl.cmd.args[1:]
		if fl.cmd.spec.flags&cachedPerKey != 0 {
			args = args[i : i+1]
		}
		s.idBuf = s.cacheID(s.idBuf[:0], fl.cmd.spec.name, args)
		cc.Finish(&fl.fills[i], s.idBuf, parts[i], expires, sent)
	}
}

// nullReply reports whether reply is a null (a missing key's GET).
func nullReply(reply []byte) bool {
	return string(reply) == "$-1\r\n" || string(reply) == "_\r\n" || string(reply) == "*-1\r\n"
}

// invalidateAfter drops what cmds, just run and not yet answered to the
// client, changed: a client reads its own writes even before Redis's
// announcement arrives. When a key written was cached or being read, it
// also waits for the announcement: until it arrives, a read that ran
// before the write may still be stored. A transaction's writes count at
// its EXEC, with the keys of the commands queued.
func (s *Session) invalidateAfter(cmds []command) {
	cc := s.srv.Cache
	sync := false
	for i := range cmds {
		c := &cmds[i]
		switch c.spec.txRole {
		case txOpen, txClose:
			s.cacheTx.open = c.spec.txRole == txOpen
			clear(s.cacheTx.keys)
			s.cacheTx.keys, s.cacheTx.anyKey = s.cacheTx.keys[:0], false
			continue
		case txExec:
			if s.cacheTx.open {
				s.cacheTx.open = false
				if s.cacheTx.anyKey {
					sync = true
				} else {
					sync = cc.Written(s.cacheTx.keys...) || sync
				}
				continue
			}
		}
		inv := c.spec.inval
		if c.kind == kindVerb {
			inv = invVerb
		}
		if s.cacheTx.open { // queued: it runs at EXEC
			switch inv {
			case invNone:
			case invKeys:
				for _, k := range c.spec.keys.Keys(c.args, s.keysBuf[:0]) {
					s.cacheTx.keys = append(s.cacheTx.keys, bytes.Clone(k))
				}
			default:
				s.cacheTx.anyKey = true
			}
			continue
		}
		switch inv {
		case invKeys:
			s.keysBuf = c.spec.keys.Keys(c.args, s.keysBuf[:0])
			sync = cc.Written(s.keysBuf...) || sync
			clear(s.keysBuf)
		case invVerb:
			if call, err := c.spec.verb.Resolve(c.args, false); err == nil {
				sync = cc.Written(call.Keys...) || sync
			}
		case invFlush:
			cc.Flush()
		case invSync:
			sync = true
		}
	}
	if sync {
		s.srv.Backend.SyncInvalidations()
	}
}

// cacheTx is what a client's open transaction will change, for the cache.
type cacheTx struct {
	open   bool
	keys   [][]byte // written by the commands queued
	anyKey bool     // a queued command may change keys redverb cannot name
}
