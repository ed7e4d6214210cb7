package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

func live(opts Options) *Cache {
	c := New(opts)
	c.SetLive(true)
	return c
}

// fill reads key under id as a session does: Begin, then Finish.
func fill(c *Cache, id, key, reply string) bool {
	f := c.Begin([]byte(key))
	return c.Finish(&f, []byte(id), []byte(reply), time.Time{}, t0)
}

func get(c *Cache, id string, now time.Time) (string, bool) {
	r, ok := c.Get([]byte(id), nil, now)
	return string(r), ok
}

func TestFillsAndInvalidations(t *testing.T) {
	type step struct {
		do       string // begin, finish, invalidate, flush, off, on
		key      string
		wantHit  bool
		wantKept bool // finish: stored
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a fill is served", []step{{do: "begin", key: "k"}, {do: "finish", key: "k", wantKept: true}, {do: "get", wantHit: true}}},
		{"an invalidation in flight refuses the reply", []step{{do: "begin", key: "k"}, {do: "invalidate", key: "k"}, {do: "finish", key: "k"}, {do: "get"}}},
		{"another key's invalidation does not", []step{{do: "begin", key: "k"}, {do: "invalidate", key: "other"}, {do: "finish", key: "k", wantKept: true}, {do: "get", wantHit: true}}},
		{"an invalidation drops the entry", []step{{do: "begin", key: "k"}, {do: "finish", key: "k", wantKept: true}, {do: "invalidate", key: "k"}, {do: "get"}}},
		{"an invalidation before the read does not refuse it", []step{{do: "invalidate", key: "k"}, {do: "begin", key: "k"}, {do: "finish", key: "k", wantKept: true}, {do: "get", wantHit: true}}},
		{"a flush in flight refuses the reply", []step{{do: "begin", key: "k"}, {do: "flush"}, {do: "finish", key: "k"}, {do: "get"}}},
		{"nothing is stored while not live", []step{{do: "off"}, {do: "begin", key: "k"}, {do: "finish", key: "k"}, {do: "get"}}},
		{"a read begun while not live is refused after", []step{{do: "off"}, {do: "begin", key: "k"}, {do: "on"}, {do: "finish", key: "k"}, {do: "get"}}},
		{"going off drops every entry", []step{{do: "begin", key: "k"}, {do: "finish", key: "k", wantKept: true}, {do: "off"}, {do: "get"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := live(Options{})
			var f Fill
			for i, st := range tt.steps {
				switch st.do {
				case "begin":
					f = c.Begin([]byte(st.key))
				case "finish":
					if kept := c.Finish(&f, []byte("get "+st.key), []byte("$1\r\nv\r\n"), time.Time{}, t0); kept != st.wantKept {
						t.Fatalf("step %d: stored %v, want %v", i, kept, st.wantKept)
					}
				case "invalidate":
					c.Invalidate([]byte(st.key))
				case "flush":
					c.Flush()
				case "off":
					c.SetLive(false)
				case "on":
					c.SetLive(true)
				case "get":
					if _, hit := get(c, "get k", t0); hit != st.wantHit {
						t.Fatalf("step %d: hit %v, want %v", i, hit, st.wantHit)
					}
				}
			}
			if st := c.Stats(); len(c.keys) != st.Entries {
				t.Fatalf("%d key states left for %d entries", len(c.keys), st.Entries)
			}
		})
	}
}

// An invalidation names a key, not a database: every entry that read the
// key goes, whatever its database, protocol or command.
func TestInvalidationDropsEveryEntryOfTheKey(t *testing.T) {
	c := live(Options{})
	for _, id := range []string{"0/2/get k", "1/2/get k", "0/3/get k", "0/2/strlen k"} {
		fill(c, id, "k", "x")
	}
	fill(c, "0/2/get j", "j", "y")
	c.Invalidate([]byte("k"))
	if st := c.Stats(); st.Entries != 1 || st.Invalidations != 4 {
		t.Fatalf("entries %d, invalidations %d; want 1 and 4", st.Entries, st.Invalidations)
	}
	if _, ok := get(c, "0/2/get j", t0); !ok {
		t.Fatal("the other key's entry went too")
	}
}

func TestExpiry(t *testing.T) {
	c := live(Options{MaxAge: time.Minute})
	f := c.Begin([]byte("k"))
	c.Finish(&f, []byte("ttl"), []byte("v"), t0.Add(time.Second), t0)
	fill(c, "aged", "j", "v")
	if _, ok := get(c, "ttl", t0.Add(999*time.Millisecond)); !ok {
		t.Fatal("gone before its key's expiry")
	}
	if _, ok := get(c, "ttl", t0.Add(time.Second)); ok {
		t.Fatal("outlived its key")
	}
	if _, ok := get(c, "aged", t0.Add(59*time.Second)); !ok {
		t.Fatal("gone before MaxAge")
	}
	if _, ok := get(c, "aged", t0.Add(time.Minute)); ok {
		t.Fatal("outlived MaxAge")
	}
	if st := c.Stats(); st.Expirations != 2 || st.Entries != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A churn of keys far beyond the bound keeps the bytes under it, and the
// entries used often stay.
func TestSizeBoundUnderChurn(t *testing.T) {
	const max = 256 << 10
	c := live(Options{MaxMemory: max})
	value := string(make([]byte, 1000))
	fill(c, "hot", "hot", value)
	for i := 0; i < 100_000; i++ {
		fill(c, fmt.Sprint("id", i), fmt.Sprint("key", i), value)
		if i%100 == 0 {
			if _, ok := get(c, "hot", t0); !ok {
				t.Fatalf("the hot entry was evicted after %d fills", i)
			}
		}
		if st := c.Stats(); st.Bytes > max {
			t.Fatalf("%d bytes held, bound %d", st.Bytes, max)
		}
	}
	st := c.Stats()
	if st.Evictions < 99_000 || len(c.keys) != st.Entries || len(c.entries) != st.Entries {
		t.Fatalf("stats %+v, %d key states", st, len(c.keys))
	}
	huge := string(make([]byte, max/8))
	if fill(c, "huge", "huge", huge) {
		t.Fatal("a reply of an eighth of the cache was stored")
	}
}

// Reads, writes and invalidations from many goroutines: a reply is never
// served after the invalidation that followed it, checked through a model
// where each write bumps a key's version before its invalidation.
func TestConcurrentFillsNeverServeAnInvalidatedVersion(t *testing.T) {
	c := live(Options{MaxMemory: 1 << 20})
	const keys = 4
	var mu sync.Mutex
	version := make([]int, keys)     // the backend
	invalidated := make([]int, keys) // the newest version whose invalidation has arrived
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20_000; i++ {
				k := (g + i) % keys
				key := []byte(fmt.Sprint("k", k))
				id := []byte(fmt.Sprint("get k", k))
				if i%10 == 0 { // a write: the backend changes, then Redis invalidates
					mu.Lock()
					version[k]++
					v := version[k]
					mu.Unlock()
					c.Invalidate(key)
					mu.Lock()
					invalidated[k] = max(invalidated[k], v)
					mu.Unlock()
					continue
				}
				mu.Lock()
				before := invalidated[k]
				mu.Unlock()
				if r, ok := c.Get(id, nil, t0); ok {
					var v int
					fmt.Sscan(string(r), &v)
					if v < before {
						errs <- fmt.Errorf("served version %d after version %d was written and invalidated", v, before)
						return
					}
					continue
				}
				f := c.Begin(key)
				mu.Lock()
				v := version[k] // the read runs on the backend
				mu.Unlock()
				c.Finish(&f, id, []byte(fmt.Sprint(v)), time.Time{}, t0)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A read whose reply came after an announcement on the same connection ran
// after that change: only changes seen after it refuse the reply.
func TestFillThatRanAfterAChange(t *testing.T) {
	c := live(Options{})
	f := c.Begin([]byte("k"))
	c.Invalidate([]byte("k")) // announced before the reply
	f.RanAfter(c.Mark())
	if !c.Finish(&f, []byte("get k"), []byte("v"), time.Time{}, t0) {
		t.Fatal("refused a reply read after the change")
	}
	f = c.Begin([]byte("k"))
	f.RanAfter(c.Mark())
	c.Invalidate([]byte("k")) // announced after the reply, before it is stored
	if c.Finish(&f, []byte("get k"), []byte("v"), time.Time{}, t0) {
		t.Fatal("stored a reply a later change made stale")
	}
	// A write through this proxy does not refuse it: Redis announces the
	// write after the reply, and the writer waits for that (held).
	f = c.Begin([]byte("k"))
	f.RanAfter(c.Mark())
	if !c.Written([]byte("k")) {
		t.Fatal("a key being read is not reported held")
	}
	if !c.Finish(&f, []byte("get k"), []byte("v"), time.Time{}, t0) {
		t.Fatal("refused by a local write")
	}
	c.Invalidate([]byte("k")) // the announcement
	if _, ok := get(c, "get k", t0); ok {
		t.Fatal("the announcement of the write did not drop the entry")
	}
	// A read on the shared connection is refused by a local write.
	f = c.Begin([]byte("k"))
	c.Written([]byte("k"))
	if c.Finish(&f, []byte("get k"), []byte("v"), time.Time{}, t0) {
		t.Fatal("a shared-connection read in flight survived a local write")
	}
}

// A read of an entry another read is filling waits for it, then finds the
// entry, or none if that fill was refused.
func TestJoin(t *testing.T) {
	c := live(Options{})
	f, ch := c.BeginEntry([]byte("get k"), []byte("k"))
	if ch != nil || !f.ok {
		t.Fatal("a join with no fill in flight")
	}
	second, ch := c.BeginEntry([]byte("get k"), []byte("k"))
	if ch == nil || second.ok {
		t.Fatal("no join while the fill is in flight")
	}
	c.Finish(&f, []byte("get k"), []byte("v"), time.Time{}, t0)
	<-ch
	if r, ok := c.GetJoined([]byte("get k"), nil, t0); !ok || string(r) != "v" {
		t.Fatalf("after the fill: %q %v", r, ok)
	}
	f, _ = c.BeginEntry([]byte("get k"), []byte("k"))
	_, ch = c.BeginEntry([]byte("get k"), []byte("k"))
	c.Invalidate([]byte("k"))
	c.Finish(&f, []byte("get k"), []byte("old"), time.Time{}, t0) // refused
	<-ch
	if _, ok := c.GetJoined([]byte("get k"), nil, t0); ok {
		t.Fatal("a refused fill's reply was found")
	}
	if st := c.Stats(); st.Misses != 0 || st.Hits != 1 || len(c.reading) != 0 {
		t.Fatalf("stats %+v, %d reading", st, len(c.reading))
	}
}
