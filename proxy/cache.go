package proxy

import (
	"encoding/binary"
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
// key (cachedPerKey): each of its keys has its own entry.
var cachedReads = map[string]flags{
	"get": 0, "strlen": 0, "getrange": 0, "getbit": 0, "bitcount": 0, "bitpos": 0,
	"mget": cachedPerKey,
	"hget": 0, "hmget": 0, "hgetall": 0, "hexists": 0, "hlen": 0, "hkeys": 0, "hvals": 0, "hstrlen": 0,
	"smembers": 0, "sismember": 0, "smismember": 0, "scard": 0,
	"zrange": 0, "zrangebyscore": 0, "zrangebylex": 0, "zrevrange": 0, "zrevrangebyscore": 0, "zrevrangebylex": 0,
	"zscore": 0, "zmscore": 0, "zcard": 0, "zcount": 0, "zlexcount": 0, "zrank": 0, "zrevrank": 0,
	"lrange": 0, "llen": 0, "lindex": 0, "lpos": 0,
	"exists": 0, "type": 0,
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

// invalidationOf decides a row's invalidation when the table is built.
func invalidationOf(sp *cmdSpec) invalidation {
	switch {
	case sp.kind == kindLocal:
		return invNone
	case sp.name == "flushall" || sp.name == "flushdb" || sp.name == "swapdb":
		// Redis announces a flush, but not SWAPDB.
		return invFlush
	case sp.flags&(runsScript|runsFunction) != 0 || sp.name == "exec" || sp.keys == nil && sp.verb == nil:
		return invSync
	case sp.kind == kindVerb:
		return invVerb
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

// cacheFill is a cached read sent in the batch: its reply, and a PTTL per
// key after it (an entry must not outlive its key), fill the cache.
type cacheFill struct {
	cmd   *command
	reply int // index of its reply in the batch
	fills []cache.Fill
}

// beginFill registers c's read before it is sent, and adds it and its
// PTTLs to the batch.
func (s *Session) beginFill(c *command, t backend.Target) {
	f := cacheFill{cmd: c, reply: len(s.req.Cmds)}
	keys := c.args[1:2]
	if c.spec.flags&cachedPerKey != 0 {
		keys = c.args[1:]
	}
	for _, k := range keys {
		f.fills = append(f.fills, s.srv.Cache.Begin(k))
	}
	s.req.Cmds, s.routing.Targets = append(s.req.Cmds, c.raw), append(s.routing.Targets, t)
	for _, k := range keys {
		start := len(s.pttlBuf)
		s.pttlBuf = resp.AppendCommand(s.pttlBuf, []byte("PTTL"), k)
		s.req.Cmds = append(s.req.Cmds, s.pttlBuf[start:len(s.pttlBuf):len(s.pttlBuf)])
		s.routing.Targets = append(s.routing.Targets, t)
	}
	s.cacheFills = append(s.cacheFills, f)
}

// finishCached rewrites the replies of cmds[from:] for the client: each
// hit in its place, and each fill's reply stored and its PTTLs taken out.
// (The hits before the batch's first sent command are in s.out already.)
func (s *Session) finishCached(cmds []command, from int, sent time.Time) {
	req, hits := &s.req, s.hits
	out := append(s.rebuf[:0], s.out[:req.Base]...)
	j, h, f := 0, 0, 0 // next reply, hit, fill
	for i := from; i < len(cmds); i++ {
		if h < len(hits) && hits[h].cmd == i {
			out = append(out, s.hitBuf[hits[h].start:hits[h].end]...)
			h++
			continue
		}
		reply := req.Reply(j)
		out = append(out, reply...)
		if f < len(s.cacheFills) && s.cacheFills[f].reply == j {
			fl := &s.cacheFills[f]
			j += 1 + len(fl.fills)
			s.storeFill(fl, reply, req, sent)
			f++
			continue
		}
		j++
	}
	s.rebuf = s.out[:0]
	if cap(s.rebuf) > 64<<10 {
		s.rebuf = nil
	}
	s.out, req.Out = out, out
	s.endCached()
}

// endCached resets the batch's cache work; fills not finished are
// abandoned (the client passed its output limit).
func (s *Session) endCached() {
	for i := range s.cacheFills {
		for j := range s.cacheFills[i].fills {
			s.srv.Cache.Abandon(&s.cacheFills[i].fills[j])
		}
	}
	clear(s.cacheFills)
	s.cacheFills, s.hits = s.cacheFills[:0], s.hits[:0]
	s.hitBuf, s.pttlBuf = s.hitBuf[:0], s.pttlBuf[:0]
}

// cachedHit is a hit in a batch: the cmd-th command's reply is
// s.hitBuf[start:end].
type cachedHit struct{ cmd, start, end int }

// storeFill stores a fill's reply (each key's element, for MGET) with the
// expiry its PTTL gave; an error reply is not stored.
func (s *Session) storeFill(fl *cacheFill, reply []byte, req *backend.Request, sent time.Time) {
	cc := s.srv.Cache
	parts := [][]byte{reply}
	if fl.cmd.spec.flags&cachedPerKey != 0 {
		parts = resp.SplitArray(reply)
	}
	for i := range fl.fills {
		ttl := req.Reply(fl.reply + 1 + i)
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
// announcement arrives.
func (s *Session) invalidateAfter(cmds []command) {
	cc := s.srv.Cache
	synced := false
	for i := range cmds {
		c := &cmds[i]
		inv := c.spec.inval
		if c.kind == kindVerb {
			inv = invVerb
		}
		switch inv {
		case invKeys:
			s.keysBuf = c.spec.keys.Keys(c.args, s.keysBuf[:0])
			cc.Invalidate(s.keysBuf...)
			clear(s.keysBuf)
		case invVerb:
			if call, err := c.spec.verb.Resolve(c.args, false); err == nil {
				cc.Invalidate(call.Keys...)
			}
		case invFlush:
			cc.Flush()
		case invSync:
			if !synced {
				s.srv.Backend.SyncInvalidations()
				synced = true
			}
		}
	}
}
