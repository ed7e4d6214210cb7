// Package cache keeps read replies that Redis invalidates: entries by
// command, dropped when a key they read changes, bounded in bytes, and
// never filled by a reply that lost the race against an invalidation.
package cache

import (
	"sync"
	"time"

	"github.com/zeebo/xxh3"
)

// Options bound a cache.
type Options struct {
	// MaxMemory bounds the bytes the entries hold (replies, names and
	// bookkeeping); the least recently used go first. If zero, 64 MiB.
	MaxMemory int64
	// MaxAge bounds how long an entry lives. If zero, until it is
	// invalidated, evicted, or its key expires.
	MaxAge time.Duration
	// Prefixes, if any, are the only keys cached: those that start with
	// one of them. If empty, every key.
	Prefixes []string
}

// DefaultMaxMemory is MaxMemory's default.
const DefaultMaxMemory = 64 << 20

// entryOverhead is what an entry costs beyond its bytes: the entry, its
// map slots and its key's index (measured with runtime.MemStats over a
// million entries, rounded up).
const entryOverhead = 240

// Cache is safe for concurrent use. Its zero value is not usable; use New.
//
// A reply may be cached only while every invalidation of its keys reaches
// the cache (Live); a read is registered (Begin) before it is sent, and
// its reply is stored (Finish) only if none of its keys was invalidated
// in between: otherwise the reply may predate the change, which Redis's
// documentation of client-side caching names as the race to handle.
type Cache struct {
	opts Options

	mu sync.Mutex
	// entries are by the hash of their id (a map keyed by a number is
	// cheaper to search than by a long string); a hit compares the id.
	entries map[uint64]*entry
	keys    map[string]*keyState
	// reading are the fills in flight by the hash of the entry they
	// fill; a channel closes when its fill ends (see BeginEntry).
	reading map[uint64]chan struct{}
	// lru is the entries' list, newest first, for the second-chance
	// eviction of the oldest: a hit only marks an entry (ref), and the
	// oldest entry, if marked, goes to the front instead of out.
	lru   entry
	bytes int64
	live  bool
	epoch uint64 // bumped by Flush and by going live: older fills are refused
	seq   uint64 // bumped by every invalidation
	stats Stats
}

type entry struct {
	id         string
	hash       uint64
	ref        bool // hit since it was last considered for eviction
	reply      []byte
	keys       []*keyState
	expires    int64 // unix nanoseconds; 0: none
	size       int64
	prev, next *entry
}

// keyState is one Redis key's entries and reads in flight.
type keyState struct {
	name    string
	entries []*entry
	fills   int    // reads begun and not finished
	changed uint64 // seq of its last invalidation
	// announced is seq of its last invalidation by Redis (not Written),
	// which alone refuses a read that ran after a mark (Fill.RanAfter).
	announced uint64
}

// Stats are the cache's counters and size.
type Stats struct {
	// Hits and Misses count lookups; a read that waited for another's
	// (BeginEntry) counts as a miss, and as a hit too if that one was stored.
	Hits, Misses  uint64
	Stored        uint64 // replies cached
	Refused       uint64 // replies not cached: an invalidation came first, or the cache was not live
	Evictions     uint64 // entries dropped for space
	Expirations   uint64 // entries dropped at their key's expiry or at MaxAge
	Invalidations uint64 // entries dropped because a key changed
	Flushes       uint64 // times every entry was dropped
	Entries       int
	Bytes         int64
	MaxMemory     int64
	Live          bool
}

// New returns an empty cache, not yet live.
func New(opts Options) *Cache {
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	c := &Cache{opts: opts, entries: map[uint64]*entry{}, keys: map[string]*keyState{}, reading: map[uint64]chan struct{}{}}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// Prefixes are Options.Prefixes: the keys whose changes must reach the
// cache.
func (c *Cache) Prefixes() []string { return c.opts.Prefixes }

// Covers reports whether key may be cached (Options.Prefixes).
func (c *Cache) Covers(key []byte) bool {
	if len(c.opts.Prefixes) == 0 {
		return true
	}
	for _, p := range c.opts.Prefixes {
		if len(key) >= len(p) && string(key[:len(p)]) == p {
			return true
		}
	}
	return false
}

// Get appends the reply cached under id to dst.
func (c *Cache) Get(id []byte, dst []byte, now time.Time) ([]byte, bool) {
	return c.get(id, dst, now, true)
}

// GetJoined is Get after waiting for another read (BeginEntry): a miss is
// not counted again.
func (c *Cache) GetJoined(id []byte, dst []byte, now time.Time) ([]byte, bool) {
	return c.get(id, dst, now, false)
}

func (c *Cache) get(id []byte, dst []byte, now time.Time, countMiss bool) ([]byte, bool) {
	h := xxh3.Hash(id)
	c.mu.Lock()
	e := c.entries[h]
	if e != nil && e.id != string(id) {
		e = nil
	}
	if e != nil && e.expires != 0 && now.UnixNano() >= e.expires {
		c.drop(e)
		c.stats.Expirations++
		e = nil
	}
	if e == nil {
		if countMiss {
			c.stats.Misses++
		}
		c.mu.Unlock()
		return dst, false
	}
	c.stats.Hits++
	e.ref = true
	reply := e.reply // never changed once stored
	c.mu.Unlock()
	return append(dst, reply...), true
}

// A Fill is a read sent to the backend whose reply may be cached.
type Fill struct {
	epoch uint64
	seq   uint64
	keys  []*keyState
	ok    bool
	after bool // RanAfter: only Redis's later announcements refuse it
	id    uint64
	done  chan struct{} // if it fills an entry other reads may wait for (BeginEntry)
}

// Mark returns a mark of the changes seen so far, for Fill.RanAfter.
func (c *Cache) Mark() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// RanAfter tells the fill that its read ran after every change the cache
// had seen at mark (a read whose reply came on a tracking connection after
// those announcements): only Redis's later announcements refuse its reply.
// Changes written through this proxy (Written) do not: each is announced
// by Redis after a read that ran before it, and its writer waits for the
// announcement when the key was being read (see Written).
func (f *Fill) RanAfter(mark uint64) {
	f.seq, f.after = max(f.seq, mark), true
}

// Begin registers a read of keys about to be sent. The Fill must be
// finished (Finish or Abandon).
func (c *Cache) Begin(keys ...[]byte) Fill {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.beginLocked(keys)
}

func (c *Cache) beginLocked(keys [][]byte) Fill {
	if !c.live {
		return Fill{}
	}
	f := Fill{epoch: c.epoch, seq: c.seq, keys: make([]*keyState, len(keys)), ok: true}
	for i, k := range keys {
		ks := c.keys[string(k)]
		if ks == nil {
			ks = &keyState{name: string(k)}
			c.keys[ks.name] = ks
		}
		ks.fills++
		f.keys[i] = ks
	}
	return f
}

// BeginEntry is Begin for a read that fills the entry id. If another read
// of that entry is in flight, it registers nothing and returns instead a
// channel closed when that read ends; the entry is then looked up again
// (GetJoined). A hot key's entry, dropped by a change, is so read once
// instead of by every client that asks for it meanwhile. A read that waits
// for another is answered with a value no older than if it had been sent
// itself, provided that its client waited for the announcement of its own
// last write of the key (see Written): that write ran before the other
// read, or its announcement, which came after that read's reply, keeps the
// reply from being stored.
func (c *Cache) BeginEntry(id []byte, keys ...[]byte) (Fill, <-chan struct{}) {
	h := xxh3.Hash(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.reading[h]; ch != nil {
		return Fill{}, ch
	}
	f := c.beginLocked(keys)
	if f.ok {
		f.id, f.done = h, make(chan struct{})
		c.reading[h] = f.done
	}
	return f, nil
}

// Finish stores reply under id if no key of the fill changed since Begin;
// expires (zero: never) is when the key expires. The reply is copied.
func (c *Cache) Finish(f *Fill, id, reply []byte, expires time.Time, now time.Time) bool {
	if !f.ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := f.keys
	defer func() {
		for _, ks := range keys {
			c.forgetIdle(ks)
		}
	}()
	if !c.done(f) {
		c.stats.Refused++
		return false
	}
	size := int64(len(id)+len(reply)) + entryOverhead
	for _, ks := range f.keys {
		size += int64(len(ks.name))
	}
	if size > c.opts.MaxMemory/16 {
		return false // one huge reply would evict much of the cache
	}
	h := xxh3.Hash(id)
	if old := c.entries[h]; old != nil {
		if old.id == string(id) {
			c.remove(old) // its keys are the fill's: their states stay
		} else {
			c.drop(old) // another id of the same hash: one of them is kept
		}
	}
	e := &entry{id: string(id), hash: h, reply: append([]byte(nil), reply...), keys: f.keys, size: size}
	if c.opts.MaxAge > 0 {
		e.expires = now.Add(c.opts.MaxAge).UnixNano()
	}
	if !expires.IsZero() && (e.expires == 0 || expires.UnixNano() < e.expires) {
		e.expires = expires.UnixNano()
	}
	c.entries[h] = e
	for _, ks := range f.keys {
		ks.entries = append(ks.entries, e)
	}
	c.pushFront(e)
	c.bytes += size
	c.stats.Stored++
	for c.bytes > c.opts.MaxMemory {
		old := c.lru.prev
		if old.ref && old != e {
			old.ref = false
			c.unlink(old)
			c.pushFront(old)
			continue
		}
		c.drop(old)
		c.stats.Evictions++
	}
	return true
}

// Abandon ends a fill whose reply is not to be cached.
func (c *Cache) Abandon(f *Fill) {
	if !f.ok {
		return
	}
	c.mu.Lock()
	c.done(f)
	for _, ks := range f.keys {
		c.forgetIdle(ks)
	}
	c.mu.Unlock()
}

// done ends a fill, reporting whether its reply may be stored; the caller
// forgets its keys' states that are left idle.
func (c *Cache) done(f *Fill) bool {
	f.ok = false
	if f.done != nil { // those waiting look the entry up once it is stored: the caller holds c.mu
		if c.reading[f.id] == f.done { // a flush may have dropped it
			delete(c.reading, f.id)
		}
		close(f.done)
		f.done = nil
	}
	if f.epoch != c.epoch {
		return false // a flush dropped the fill's keys
	}
	fresh := true
	for _, ks := range f.keys {
		if ks.changed > f.seq && !f.after || ks.announced > f.seq {
			fresh = false
		}
		ks.fills--
	}
	return fresh
}

// Invalidate drops every entry that read one of keys, in every database
// (Redis's invalidations do not name one), and refuses the replies of
// reads of them in flight.
func (c *Cache) Invalidate(keys ...[]byte) { c.invalidate(keys, true) }

// Written is Invalidate for keys a write through this proxy changed. It
// reports whether one of them had an entry or a read in flight: the
// writer must then wait for Redis's announcement of its write before it
// reads (a read that ran before the write may still be stored until the
// announcement arrives).
func (c *Cache) Written(keys ...[]byte) (held bool) { return c.invalidate(keys, false) }

func (c *Cache) invalidate(keys [][]byte, announced bool) (held bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	for _, k := range keys {
		ks := c.keys[string(k)]
		if ks == nil {
			continue
		}
		held = true
		ks.changed = c.seq
		if announced {
			ks.announced = c.seq
		}
		for len(ks.entries) > 0 {
			c.drop(ks.entries[len(ks.entries)-1])
			c.stats.Invalidations++
		}
		c.forgetIdle(ks)
	}
	return held
}

// Flush drops every entry and refuses every read in flight.
func (c *Cache) Flush() {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
}

func (c *Cache) flushLocked() {
	c.entries, c.keys = map[uint64]*entry{}, map[string]*keyState{}
	// The fills in flight keep their channels: each closes its own.
	c.reading = map[uint64]chan struct{}{}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	c.bytes = 0
	c.epoch++
	c.stats.Flushes++
}

// SetLive says whether every invalidation reaches the cache. Going off
// flushes it and stops filling; going on refuses the reads begun before.
func (c *Cache) SetLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !live && c.live {
		c.flushLocked()
	}
	if live && !c.live {
		c.epoch++
	}
	c.live = live
}

// Stats reports the counters and the size now.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Entries, st.Bytes, st.MaxMemory, st.Live = len(c.entries), c.bytes, c.opts.MaxMemory, c.live
	return st
}

// drop removes e and forgets its keys' states left idle.
func (c *Cache) drop(e *entry) {
	c.remove(e)
	for _, ks := range e.keys {
		c.forgetIdle(ks)
	}
}

// remove takes e out of the map, the list and its keys' indexes.
func (c *Cache) remove(e *entry) {
	delete(c.entries, e.hash)
	c.unlink(e)
	c.bytes -= e.size
	for _, ks := range e.keys {
		for i, other := range ks.entries {
			if other == e {
				last := len(ks.entries) - 1
				ks.entries[i] = ks.entries[last]
				ks.entries[last] = nil
				ks.entries = ks.entries[:last]
				break
			}
		}
	}
}

// forgetIdle drops a key's state once nothing refers to it.
func (c *Cache) forgetIdle(ks *keyState) {
	if ks.fills == 0 && len(ks.entries) == 0 && c.keys[ks.name] == ks {
		delete(c.keys, ks.name)
	}
}

func (c *Cache) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *Cache) pushFront(e *entry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}
