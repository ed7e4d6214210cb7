package proxy_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redverb/redverb/cache"
	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/internal/resp"
)

func cachingProxy(t *testing.T, url string, opts cache.Options) *redistest.Proxy {
	t.Helper()
	p := redistest.StartProxy(t, url, redistest.WithVerbs(t, ""), redistest.WithCache(opts))
	p.WaitCacheLive(t)
	return p
}

// calls reads a command's call count from Redis's INFO commandstats.
func calls(t *testing.T, addr, name string) int {
	t.Helper()
	info := string(redistest.Command(addr, "INFO", "commandstats"))
	_, rest, ok := strings.Cut(info, "cmdstat_"+name+":calls=")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	return n
}

// eventually retries read until it returns want, for changes announced by
// Redis (made elsewhere than through this proxy).
func eventually(t *testing.T, what string, read func() string, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	got := read()
	for got != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: read %q, want %q", what, got, want)
		}
		time.Sleep(time.Millisecond)
		got = read()
	}
}

func TestCacheAnswersRepeatedReadsFromMemory(t *testing.T) {
	r := redistest.StartRedis(t)
	p := cachingProxy(t, r.URL(), cache.Options{})
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("SET", "k", "v1"), "+OK\r\n")
	expect(t, c.Do("RPUSH", "l", "a", "b"), ":2\r\n")
	reads := [][]string{{"GET", "k"}, {"MGET", "k", "nokey"}, {"LRANGE", "l", "0", "-1"}, {"GET", "nokey"}, {"EXISTS", "k"}}
	first := make([]string, len(reads))
	for i, args := range reads {
		first[i] = c.Do(args...)
	}
	redistest.Command(r.Addr(), "CONFIG", "RESETSTAT")
	for round := 0; round < 3; round++ {
		for i, args := range reads {
			expect(t, c.Do(args...), first[i])
		}
	}
	for _, name := range []string{"get", "mget", "lrange", "exists"} {
		if n := calls(t, r.Addr(), name); n != 0 {
			t.Errorf("%d %s reached Redis; want every one answered from the cache", n, name)
		}
	}
	// MGET is answered key by key: the same keys in another order, or
	// fewer of them, are answered from the entries of the first.
	expect(t, c.Do("MGET", "nokey", "k"), "*2\r\n$-1\r\n$2\r\nv1\r\n")
	expect(t, c.Do("MGET", "k"), "*1\r\n$2\r\nv1\r\n")
	if n := calls(t, r.Addr(), "mget"); n != 0 {
		t.Errorf("MGET reached Redis %d times, want 0", n)
	}
	// RESP3 and the other database have entries of their own.
	c3 := redistest.Dial(t, p.Addr())
	c3.Do("HELLO", "3")
	expect(t, c3.Do("HSET", "h", "f", "1"), ":1\r\n")
	expect(t, c3.Do("HGETALL", "h"), "%1\r\n$1\r\nf\r\n$1\r\n1\r\n")
	expect(t, c.Do("HGETALL", "h"), "*2\r\n$1\r\nf\r\n$1\r\n1\r\n")
	expect(t, c3.Do("HGETALL", "h"), "%1\r\n$1\r\nf\r\n$1\r\n1\r\n")
	expect(t, c.Do("SELECT", "1"), "+OK\r\n")
	expect(t, c.Do("GET", "k"), "$-1\r\n")
}

// A write through the proxy is seen by the writer's next read at once,
// whatever runs it: each row writes k (read and cached as "old" before)
// and reads it in the same pipeline and alone.
func TestCacheReadsYourWrites(t *testing.T) {
	r := redistest.StartRedis(t)
	p := cachingProxy(t, r.URL(), cache.Options{})
	tests := []struct {
		name  string
		write [][]string
		want  string // GET k after it
	}{
		{"SET", [][]string{{"SET", "k", "new"}}, "new"},
		{"APPEND", [][]string{{"APPEND", "k", "er"}}, "older"},
		{"DEL of several keys", [][]string{{"DEL", "a", "k"}}, ""},
		{"MSET", [][]string{{"MSET", "a", "1", "k", "new"}}, "new"},
		{"RENAME onto it", [][]string{{"SET", "src", "new"}, {"RENAME", "src", "k"}}, "new"},
		{"EVAL on a declared key", [][]string{{"EVAL", "return redis.call('SET', KEYS[1], 'new')", "1", "k"}}, "new"},
		{"EVAL on an undeclared key", [][]string{{"EVAL", "return redis.call('SET', 'k', 'new')", "0"}}, "new"},
		{"MULTI/EXEC", [][]string{{"MULTI"}, {"SET", "k", "new"}, {"EXEC"}}, "new"},
		{"a verb", [][]string{{"CAS", "k", "old", "new"}}, "new"},
		{"FLUSHDB", [][]string{{"FLUSHDB"}}, ""},
		{"FLUSHALL", [][]string{{"FLUSHALL"}}, ""},
		{"SWAPDB", [][]string{{"SWAPDB", "0", "1"}}, "db1"},
		{"EXPIRE in the past", [][]string{{"PEXPIREAT", "k", "1"}}, ""},
		{"COPY ... REPLACE", [][]string{{"SET", "src", "new"}, {"COPY", "src", "k", "REPLACE"}}, "new"},
	}
	for _, tt := range tests {
		for _, pipelined := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/pipelined=%v", tt.name, pipelined), func(t *testing.T) {
				redistest.Command(r.Addr(), "FLUSHALL")
				redistest.Command(r.Addr(), "SET", "k", "old")
				redistest.Command(r.Addr(), "SELECT", "1") // each Command is a connection of its own
				c := redistest.Dial(t, p.Addr())
				c.Do("SELECT", "1")
				c.Do("SET", "k", "db1")
				c.Do("SELECT", "0")
				want := redistest.Bulk(tt.want)
				if tt.want == "" {
					want = "$-1\r\n"
				}
				expect(t, c.Do("GET", "k"), redistest.Bulk("old"))
				expect(t, c.Do("GET", "k"), redistest.Bulk("old")) // from the cache
				for _, w := range tt.write {
					if pipelined {
						c.Send(w...)
					} else if reply := c.Do(w...); reply[0] == '-' {
						t.Fatalf("%v: %q", w, reply)
					}
				}
				if pipelined {
					c.Send("GET", "k")
					for range tt.write {
						c.Read()
					}
					expect(t, c.Read(), want)
				}
				expect(t, c.Do("GET", "k"), want)
			})
		}
	}
}

// Changes made elsewhere (directly, through another proxy, by expiry) are
// announced by Redis and drop the entry; a key's expiry ends its entry
// even before Redis announces it.
func TestCacheSeesChangesMadeElsewhere(t *testing.T) {
	r := redistest.StartRedis(t)
	p := cachingProxy(t, r.URL(), cache.Options{})
	other := redistest.StartProxy(t, r.URL())
	c, o, d := redistest.Dial(t, p.Addr()), redistest.Dial(t, other.Addr()), redistest.Dial(t, r.Addr())
	get := func() string { return c.Do("GET", "k") }
	c.Do("SET", "k", "1")
	get()
	d.Do("SET", "k", "2")
	eventually(t, "after a direct SET", get, redistest.Bulk("2"))
	o.Do("SET", "k", "3")
	eventually(t, "after a SET through another proxy", get, redistest.Bulk("3"))
	d.Do("FLUSHALL")
	eventually(t, "after a direct FLUSHALL", get, "$-1\r\n")

	// Redis expires a key lazily, or when its cycle samples it; the entry
	// goes at the key's expiry whatever Redis does.
	d.Do("DEBUG", "SET-ACTIVE-EXPIRE", "0")
	defer d.Do("DEBUG", "SET-ACTIVE-EXPIRE", "1")
	c.Do("SET", "t", "x", "PX", "200")
	expect(t, c.Do("GET", "t"), redistest.Bulk("x"))
	time.Sleep(250 * time.Millisecond)
	expect(t, c.Do("GET", "t"), "$-1\r\n")

	// An entry never outlives --cache-ttl either.
	aged := cachingProxy(t, r.URL(), cache.Options{MaxAge: 100 * time.Millisecond})
	a := redistest.Dial(t, aged.Addr())
	a.Do("SET", "k", "1")
	a.Do("GET", "k")
	before := aged.Server.Cache.Stats()
	time.Sleep(150 * time.Millisecond)
	a.Do("GET", "k")
	if after := aged.Server.Cache.Stats(); after.Expirations != before.Expirations+1 {
		t.Fatalf("expirations %d then %d, want one more past the maximum age", before.Expirations, after.Expirations)
	}
}

// Only keys under the prefixes are cached, and Redis announces only them.
func TestCachePrefixes(t *testing.T) {
	r := redistest.StartRedis(t)
	p := cachingProxy(t, r.URL(), cache.Options{Prefixes: []string{"user:", "cfg:"}})
	c := redistest.Dial(t, p.Addr())
	for _, k := range []string{"user:1", "cfg:a", "other"} {
		c.Do("SET", k, "v")
		c.Do("GET", k)
		c.Do("GET", k)
	}
	if st := p.Server.Cache.Stats(); st.Entries != 2 || st.Hits != 2 {
		t.Fatalf("%d entries, %d hits; want 2 and 2", st.Entries, st.Hits)
	}
	info := string(redistest.Command(r.Addr(), "CLIENT", "LIST"))
	if !strings.Contains(info, "flags=tB") && !strings.Contains(info, "flags=Bt") {
		t.Fatalf("no broadcasting tracking client on Redis:\n%s", info)
	}
}

// checker runs many clients on a few counters: INCR in several forms (a
// plain command, a script on a declared and on an undeclared key, a
// transaction, a verb) through caching proxies, another proxy and
// directly, and GET through all of them. Every write returns the
// counter's new value, so values are ordered as Redis ran the writes. It
// checks that a client through a caching proxy reads its own writes (a
// value at least its last), and that once Redis's announcements of the
// writes done so far are delivered (Backend.SyncInvalidations), a read
// through a caching proxy returns at least the newest of them.
type checker struct {
	keys    []string
	newest  []atomic.Int64 // the largest value a finished write returned, per key
	reads   atomic.Int64
	writes  atomic.Int64
	mu      sync.Mutex
	faults  []string
	nFaults int
}

func (ck *checker) fault(format string, args ...any) {
	ck.mu.Lock()
	defer ck.mu.Unlock()
	ck.nFaults++
	if len(ck.faults) < 10 {
		ck.faults = append(ck.faults, fmt.Sprintf(format, args...))
	}
}

func (ck *checker) wrote(k int, v int64) {
	ck.writes.Add(1)
	for {
		old := ck.newest[k].Load()
		if v <= old || ck.newest[k].CompareAndSwap(old, v) {
			return
		}
	}
}

type path struct {
	name    string
	addr    string
	caching bool
	verbs   bool
}

// write increments key k through c in form i, returning the new value.
func write(ctx context.Context, c *redis.Client, p path, key string, i int) (int64, error) {
	forms := 4
	if p.verbs {
		forms = 5
	}
	switch i % forms {
	case 0:
		return c.Incr(ctx, key).Result()
	case 1:
		return c.Eval(ctx, "return redis.call('INCR', KEYS[1])", []string{key}).Int64()
	case 2:
		return c.Eval(ctx, "return redis.call('INCR', ARGV[1])", nil, key).Int64()
	case 3:
		var incr *redis.IntCmd
		_, err := c.TxPipelined(ctx, func(tx redis.Pipeliner) error {
			incr = tx.Incr(ctx, key)
			return nil
		})
		if err != nil {
			return 0, err
		}
		return incr.Val(), nil
	default:
		return c.Do(ctx, "INCRMAX", key, 1, 1<<50).Int64()
	}
}

func (ck *checker) run(t *testing.T, paths []path, syncs []*redistest.Proxy, d time.Duration) {
	ctx := context.Background()
	ck.newest = make([]atomic.Int64, len(ck.keys))
	setup := redis.NewClient(&redis.Options{Addr: paths[0].addr})
	for _, k := range ck.keys {
		setup.Set(ctx, k, 0, 0)
	}
	setup.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4*len(paths); i++ {
		p := paths[i%len(paths)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: p.addr, PoolSize: 1, MaxRetries: -1})
			defer c.Close()
			own := make([]int64, len(ck.keys))
			for n := i; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				k := n % len(ck.keys)
				if n%3 == 0 {
					v, err := write(ctx, c, p, ck.keys[k], n/3)
					if err != nil {
						ck.fault("%s: write: %v", p.name, err)
						return
					}
					own[k] = v
					ck.wrote(k, v)
					continue
				}
				v, err := c.Get(ctx, ck.keys[k]).Int64()
				if err != nil {
					ck.fault("%s: read: %v", p.name, err)
					return
				}
				ck.reads.Add(1)
				if p.caching && v < own[k] {
					ck.fault("%s: read %s = %d after its own write of %d", p.name, ck.keys[k], v, own[k])
				}
			}
		}()
	}
	for _, p := range syncs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: p.Addr(), PoolSize: 1, MaxRetries: -1})
			defer c.Close()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				k := n % len(ck.keys)
				newest := ck.newest[k].Load()
				p.Backend.SyncInvalidations()
				v, err := c.Get(ctx, ck.keys[k]).Int64()
				if err != nil {
					ck.fault("sync check: %v", err)
					return
				}
				if v < newest {
					ck.fault("%s: read %s = %d after the announcement of %d was delivered", p.Addr(), ck.keys[k], v, newest)
				}
			}
		}()
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	t.Logf("%d writes, %d reads, %d faults", ck.writes.Load(), ck.reads.Load(), ck.nFaults)
}

// checkerRig is two caching proxies and a plain one on one Redis.
func checkerRig(t *testing.T) (paths []path, caching []*redistest.Proxy) {
	r := redistest.StartRedis(t)
	a := cachingProxy(t, r.URL(), cache.Options{})
	b := cachingProxy(t, r.URL(), cache.Options{})
	plain := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, ""))
	return []path{
		{name: "caching proxy A", addr: a.Addr(), caching: true, verbs: true},
		{name: "caching proxy B", addr: b.Addr(), caching: true, verbs: true},
		{name: "plain proxy", addr: plain.Addr(), verbs: true},
		{name: "direct", addr: r.Addr()},
	}, []*redistest.Proxy{a, b}
}

func TestCacheConcurrentChecker(t *testing.T) {
	paths, caching := checkerRig(t)
	ck := &checker{keys: []string{"c:0", "c:1", "c:2"}}
	ck.run(t, paths, caching, 2*time.Second)
	for _, f := range ck.faults {
		t.Error(f)
	}
	for _, p := range caching {
		st := p.Server.Cache.Stats()
		t.Logf("%s: %d hits, %d misses, %d refused, %d invalidations", p.Addr(), st.Hits, st.Misses, st.Refused, st.Invalidations)
		if st.Hits == 0 {
			t.Error("no read was answered from the cache: the checker checked nothing")
		}
	}
}

// The checker catches a cache that does not hear Redis's announcements.
func TestCacheConcurrentCheckerFailsWithoutInvalidations(t *testing.T) {
	paths, caching := checkerRig(t)
	for _, p := range caching {
		p.IgnoreInvalidations()
	}
	ck := &checker{keys: []string{"c:0", "c:1", "c:2"}}
	ck.run(t, paths, caching, time.Second)
	if ck.nFaults == 0 {
		t.Fatal("the checker found nothing wrong with a cache that ignores invalidations")
	}
	t.Logf("as expected, e.g. %s", ck.faults[0])
}

// trackingClient returns the id of the proxy's tracking connection on
// Redis at addr.
func trackingClient(t *testing.T, addr string) string {
	t.Helper()
	for _, line := range strings.Split(string(redistest.Command(addr, "CLIENT", "LIST")), "\n") {
		if strings.Contains(line, "flags=tB") || strings.Contains(line, "flags=Bt") {
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
			return id
		}
	}
	t.Fatal("no tracking client")
	return ""
}

// A killed tracking connection flushes the cache (announcements may have
// been lost); the proxy tracks again and caches again.
func TestCacheFlushedWhenTrackingConnectionDrops(t *testing.T) {
	r := redistest.StartRedis(t)
	p := cachingProxy(t, r.URL(), cache.Options{})
	c := redistest.Dial(t, p.Addr())
	c.Do("SET", "k", "1")
	c.Do("GET", "k")
	before := p.Server.Cache.Stats()
	if before.Entries != 1 {
		t.Fatalf("%d entries", before.Entries)
	}
	redistest.Command(r.Addr(), "CLIENT", "KILL", "ID", trackingClient(t, r.Addr()))
	deadline := time.Now().Add(5 * time.Second)
	for st := p.Server.Cache.Stats(); st.Flushes == before.Flushes || !st.Live; st = p.Server.Cache.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("not flushed and live again: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := p.Server.Cache.Stats(); st.Entries != 0 {
		t.Fatalf("%d entries after the flush", st.Entries)
	}
	redistest.Command(r.Addr(), "SET", "k", "2")
	eventually(t, "after reconnecting", func() string { return c.Do("GET", "k") }, redistest.Bulk("2"))
	expect(t, c.Do("GET", "k"), redistest.Bulk("2"))
	redistest.Command(r.Addr(), "SET", "k", "3")
	eventually(t, "announced on the new tracking connection", func() string { return c.Do("GET", "k") }, redistest.Bulk("3"))
}

// Far more keys than fit: the bytes held stay under the bound.
func TestCacheSizeBoundUnderChurn(t *testing.T) {
	r := redistest.StartRedis(t)
	const max = 1 << 20
	p := cachingProxy(t, r.URL(), cache.Options{MaxMemory: max})
	c, d := redistest.Dial(t, p.Addr()), redistest.Dial(t, r.Addr())
	value := strings.Repeat("v", 1024)
	for i := 0; i < 5000; i++ {
		d.Send("SET", "churn:"+strconv.Itoa(i), value)
	}
	for i := 0; i < 5000; i++ {
		d.Read()
	}
	for i := 0; i < 5000; i++ {
		expect(t, c.Do("GET", "churn:"+strconv.Itoa(i)), redistest.Bulk(value))
		if i%100 == 0 {
			if st := p.Server.Cache.Stats(); st.Bytes > max {
				t.Fatalf("%d bytes held, bound %d", st.Bytes, max)
			}
		}
	}
	st := p.Server.Cache.Stats()
	t.Logf("%+v", st)
	if st.Evictions < 3000 || st.Bytes > max || st.Bytes < max/2 {
		t.Fatalf("%d evictions, %d bytes held (bound %d)", st.Evictions, st.Bytes, max)
	}
}

// Sentinel promotes the replica: the proxy's tracking follows the master
// and the cache is flushed; what is written on the new master is read.
func TestCacheFollowsSentinelFailover(t *testing.T) {
	s := redistest.StartSentinels(t)
	p := cachingProxy(t, s.URL(), cache.Options{})
	c := redistest.Dial(t, p.Addr())
	c.Do("SET", "k", "1")
	expect(t, c.Do("GET", "k"), redistest.Bulk("1"))
	flushes := p.Server.Cache.Stats().Flushes
	newMaster := s.Failover(t)
	redistest.Command(newMaster, "SET", "k", "2")
	eventually(t, "after the failover", func() string { return c.Do("GET", "k") }, redistest.Bulk("2"))
	if st := p.Server.Cache.Stats(); st.Flushes == flushes {
		t.Fatal("not flushed on failover")
	}
	p.WaitCacheLive(t)
	c.Do("GET", "k")
	redistest.Command(newMaster, "SET", "k", "3")
	eventually(t, "announced by the new master", func() string { return c.Do("GET", "k") }, redistest.Bulk("3"))
}

// A slot moves to another master; a change made there is announced by
// that master's tracking connection.
func TestCacheFollowsClusterReshard(t *testing.T) {
	cl := sharedCluster(t)
	p := cachingProxy(t, cl.URL(), cache.Options{})
	c := redistest.Dial(t, p.Addr())
	key := "{reshard}k"
	slot := keyslot.Slot([]byte(key))
	c.Do("SET", key, "1")
	expect(t, c.Do("GET", key), redistest.Bulk("1"))
	expect(t, c.Do("GET", key), redistest.Bulk("1"))
	to := cl.OtherMaster(slot)
	if err := cl.MoveSlot(slot, to, 0); err != nil {
		t.Fatal(err)
	}
	if err := cl.WaitStable(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	redistest.Command(to, "SET", key, "2")
	eventually(t, "after the reshard", func() string { return c.Do("GET", key) }, redistest.Bulk("2"))
	// Cached again from the new owner, and dropped on its change.
	c.Do("GET", key)
	redistest.Command(to, "SET", key, "3")
	eventually(t, "announced by the new owner", func() string { return c.Do("GET", key) }, redistest.Bulk("3"))
	// A write through the proxy on the cluster is read at once.
	c.Do("SET", key, "4")
	expect(t, c.Do("GET", key), redistest.Bulk("4"))
}

// REDVERB HOTKEYS lists the most requested keys, with their rates and,
// for reads the cache may answer, its hit ratio.
func TestHotkeys(t *testing.T) {
	r := redistest.StartRedis(t)
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			var p *redistest.Proxy
			if cached {
				p = cachingProxy(t, r.URL(), cache.Options{})
			} else {
				p = redistest.StartProxy(t, r.URL())
			}
			c := redistest.Dial(t, p.Addr())
			c.Do("SET", "hot", "v")
			sent := 0
			for i := 0; i < 4000; i++ {
				c.Send("GET", "hot")
				sent++
				if i%4 == 0 {
					c.Send("INCR", "warm")
					sent++
				}
				if i%40 == 0 {
					c.Send("GET", "cold:"+strconv.Itoa(i))
					sent++
				}
			}
			for ; sent > 0; sent-- {
				c.Read()
			}
			elems := func(raw string) []string {
				var out []string
				for _, e := range resp.SplitArray([]byte(raw)) {
					out = append(out, string(e))
				}
				return out
			}
			top := elems(c.Do("REDVERB", "HOTKEYS", "COUNT", "2"))
			if len(top) != 2 {
				t.Fatalf("COUNT 2 gave %d entries", len(top))
			}
			hot, warm := elems(top[0]), elems(top[1])
			if hot[0] != redistest.Bulk("hot") || warm[0] != redistest.Bulk("warm") {
				t.Fatalf("top keys %q, %q", hot[0], warm[0])
			}
			rate := func(e []string) float64 {
				v, err := strconv.ParseFloat(strings.Split(e[1], "\r\n")[1], 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			if rate(hot) < 2*rate(warm) || rate(warm) <= 0 {
				t.Fatalf("rates %v and %v", rate(hot), rate(warm))
			}
			if warm[3] != "$-1\r\n" {
				t.Fatalf("INCR's key has hit ratio %q, want null", warm[3])
			}
			if !cached && hot[3] != "$-1\r\n" {
				t.Fatalf("hit ratio %q without a cache", hot[3])
			}
			if cached {
				ratio, _ := strconv.ParseFloat(strings.Split(hot[3], "\r\n")[1], 64)
				if ratio < 0.9 {
					t.Fatalf("hot key's hit ratio %v", ratio)
				}
			}
			for _, bad := range [][]string{{"REDVERB", "HOTKEYS", "COUNT", "0"}, {"REDVERB", "HOTKEYS", "COUNT", "x"}} {
				expect(t, c.Do(bad...), "-ERR value is out of range, must be positive\r\n")
			}
			expect(t, c.Do("REDVERB", "HOTKEYS", "COUNT"), "-ERR syntax error\r\n")
		})
	}
}

// Hits, fills (whose PTTLs are taken out) and writes mixed in pipelines
// get the replies Redis gives, in order.
func TestCacheHitsInsidePipelines(t *testing.T) {
	direct := redistest.StartRedis(t)
	behind := redistest.StartRedis(t)
	p := cachingProxy(t, behind.URL(), cache.Options{})
	setup := [][]string{{"SET", "a", "1"}, {"SET", "b", "2"}, {"RPUSH", "l", "x", "y"}, {"SET", "t", "v", "EX", "100"}}
	warm := [][]string{{"GET", "a"}, {"GET", "b"}, {"LRANGE", "l", "0", "-1"}, {"GET", "t"}, {"MGET", "a", "b"}}
	pipeline := [][]string{
		{"GET", "a"}, {"PING"}, {"GET", "b"}, {"GET", "missing"}, {"LRANGE", "l", "0", "-1"}, {"MGET", "b", "a", "missing"},
		{"ECHO", "e"}, {"GET", "t"}, {"SET", "a", "3"}, {"GET", "a"}, {"GET", "b"}, {"MGET", "a", "b"},
		{"GET", "nope"}, {"GET", "b"}, {"INCR", "n"}, {"GET", "n"}, {"HGETALL", "nohash"}, {"GET", "a"},
	}
	replies := func(addr string) []string {
		c := redistest.Dial(t, addr)
		for _, args := range append(setup, warm...) {
			c.Do(args...)
		}
		time.Sleep(20 * time.Millisecond) // the setup's announcements arrive: the warm-up reads fill
		for _, args := range warm {
			c.Do(args...)
		}
		for _, args := range pipeline {
			c.Send(args...)
		}
		out := make([]string, len(pipeline))
		for i := range out {
			out[i] = c.Read()
		}
		return out
	}
	want, got := replies(direct.Addr()), replies(p.Addr())
	for i := range want {
		if want[i] != got[i] {
			t.Errorf("%v: redis %q, proxy %q", pipeline[i], want[i], got[i])
		}
	}
	if st := p.Server.Cache.Stats(); st.Hits < 10 {
		t.Fatalf("%d hits: the pipeline was not answered from the cache", st.Hits)
	}
}

// Real clients get the same answers from a caching redverb as from a plain
// one, for the whole corpus with its reads repeated (so that the repeats
// are hits): go-redis v9 (RESP3) command by command, and redis-cli reading
// the corpus from its standard input, in RESP2 and RESP3.
func TestRealClientsSeeTheSameWithCache(t *testing.T) {
	all, shapeOnly := parseCorpus(t)
	var cmds [][]string
	for i, args := range all {
		if !shapeOnly[i] { // time-dependent replies, which differ run to run
			cmds = append(cmds, args)
		}
	}
	cmds, _ = readTwice(cmds, make([]bool, len(cmds)))
	plain := redistest.StartProxy(t, redistest.StartRedis(t).URL(), redistest.WithVerbs(t, ""))
	cached := cachingProxy(t, redistest.StartRedis(t).URL(), cache.Options{})
	flush := func() {
		for _, p := range []*redistest.Proxy{plain, cached} {
			redistest.Dial(t, p.Addr()).Do("FLUSHALL")
		}
	}

	t.Run("go-redis", func(t *testing.T) {
		flush()
		ctx := context.Background()
		answers := func(addr string) []string {
			rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
			defer rdb.Close()
			var out []string
			for _, args := range cmds {
				a := make([]any, len(args))
				for i := range args {
					a[i] = args[i]
				}
				v, err := rdb.Do(ctx, a...).Result()
				out = append(out, fmt.Sprintf("%#v %v", v, err))
			}
			return out
		}
		want, got := answers(plain.Addr()), answers(cached.Addr())
		for i := range want {
			if want[i] != got[i] {
				t.Errorf("%q:\n plain:  %s\n cached: %s", strings.Join(cmds[i], " "), want[i], got[i])
			}
		}
	})
	for _, proto := range []string{"-2", "-3"} {
		t.Run("redis-cli "+proto, func(t *testing.T) {
			flush()
			var input strings.Builder
			for _, args := range cmds {
				for i, a := range args {
					if i > 0 {
						input.WriteByte(' ')
					}
					input.WriteString(strconv.QuoteToASCII(a))
				}
				input.WriteByte('\n')
			}
			output := func(addr string) string {
				_, port, _ := strings.Cut(addr, ":")
				cmd := exec.Command("redis-cli", proto, "-p", port)
				cmd.Stdin = strings.NewReader(input.String())
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("redis-cli: %v\n%s", err, out)
				}
				return string(out)
			}
			want, got := output(plain.Addr()), output(cached.Addr())
			if want != got {
				w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
				for i := 0; i < min(len(w), len(g)); i++ {
					if w[i] != g[i] {
						t.Fatalf("output differs from line %d:\n plain:  %q\n cached: %q", i+1, w[i], g[i])
					}
				}
				t.Fatalf("outputs of %d and %d lines", len(w), len(g))
			}
		})
	}
	requireHits(t, cached)
}
