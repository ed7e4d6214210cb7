package proxy_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/redistest"
)

// load is 20 clients of one proxy, each incrementing a counter of its own
// and moving one unit at a time between two accounts it shares with four
// others (keys under one hash tag per group of five). Clients do not
// retry: every reply that is not a normal one is recorded.
type load struct {
	clients int
	tags    []string
	incrs   []atomic.Int64 // INCRs acknowledged, per client
	moves   atomic.Int64   // TRANSFERs that moved a unit
	stop    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	bad      []string
	failedAt time.Time // the last failure
}

const loadBalance = 1000

func startLoad(t *testing.T, addr string) *load {
	l := &load{clients: 20, tags: []string{"{t0}", "{t1}", "{t2}", "{t3}"}, stop: make(chan struct{})}
	l.incrs = make([]atomic.Int64, l.clients)
	setup := redis.NewClient(&redis.Options{Addr: addr})
	defer setup.Close()
	ctx := context.Background()
	for _, tag := range l.tags {
		if err := setup.MSet(ctx, tag+":a", loadBalance, tag+":b", loadBalance).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < l.clients; i++ {
		setup.Del(ctx, l.counter(i))
		l.wg.Add(1)
		go l.run(addr, i)
	}
	return l
}

func (l *load) counter(i int) string { return l.tags[i%len(l.tags)] + ":hits:" + strconv.Itoa(i) }

func (l *load) run(addr string, i int) {
	defer l.wg.Done()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, ReadTimeout: 20 * time.Second})
	defer c.Close()
	ctx := context.Background()
	tag := l.tags[i%len(l.tags)]
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		if err := c.Incr(ctx, l.counter(i)).Err(); err != nil {
			l.fail("INCR: " + err.Error())
		} else {
			l.incrs[i].Add(1)
		}
		from, to := tag+":a", tag+":b"
		if rand.IntN(2) == 0 {
			from, to = to, from
		}
		moved, err := c.Do(ctx, "TRANSFER", from, to, 1).Int()
		switch {
		case err != nil:
			l.fail("TRANSFER: " + err.Error())
		case moved == 1:
			l.moves.Add(1)
		}
	}
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) < 20 {
		l.bad = append(l.bad, msg)
	}
	l.failedAt = time.Now()
}

// total is how many INCRs were acknowledged so far.
func (l *load) total() int64 {
	n := int64(0)
	for i := range l.incrs {
		n += l.incrs[i].Load()
	}
	return n
}

// finish stops the clients and checks that every client saw only normal
// replies, every acknowledged INCR is counted exactly once, and the
// transfers conserved every group's total.
func (l *load) finish(t *testing.T, addr string) {
	close(l.stop)
	l.wg.Wait()
	for _, msg := range l.bad {
		t.Error(msg)
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	total := int64(0)
	for i := 0; i < l.clients; i++ {
		got, _ := c.Get(ctx, l.counter(i)).Int64()
		if want := l.incrs[i].Load(); got != want {
			t.Errorf("client %d: counter %d, but %d INCRs were acknowledged", i, got, want)
		}
		total += got
	}
	for _, tag := range l.tags {
		a, _ := c.Get(ctx, tag+":a").Int64()
		b, _ := c.Get(ctx, tag+":b").Int64()
		if a+b != 2*loadBalance {
			t.Errorf("%s: a=%d b=%d, total %d, want %d", tag, a, b, a+b, 2*loadBalance)
		}
	}
	if total == 0 || l.moves.Load() == 0 {
		t.Errorf("no work done: %d INCRs, %d transfers", total, l.moves.Load())
	}
	t.Logf("%d INCRs and %d transfers, all exact", total, l.moves.Load())
}

// Slots move between masters while clients write to them: the proxy
// follows ASK during the migration and MOVED after it, so clients see only
// normal replies and nothing is lost or applied twice.
func TestClusterSlotMigrationUnderLoad(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL(), redistest.WithVerbs(t, ""))
	l := startLoad(t, p.Addr())
	time.Sleep(300 * time.Millisecond)
	for round := 0; round < 2; round++ {
		for _, tag := range l.tags {
			slot := keyslot.Slot([]byte(tag))
			if err := cl.MoveSlot(slot, cl.OtherMaster(slot), 5*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.WaitStable(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	l.finish(t, p.Addr())
}

// A replica takes over from its master (CLUSTER FAILOVER) while clients
// write: the proxy follows the MOVED that the old master answers, loads
// the verbs' scripts on the new master, and clients see only normal
// replies.
func TestClusterFailoverUnderLoad(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL(), redistest.WithVerbs(t, ""))
	l := startLoad(t, p.Addr())
	time.Sleep(300 * time.Millisecond)
	owner := cl.Owner(keyslot.Slot([]byte(l.tags[0])))
	promoted, err := cl.Failover(owner)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover: %s took over from %s", promoted, owner)
	time.Sleep(500 * time.Millisecond)
	l.finish(t, p.Addr())
}

// Sentinel: one master, one replica, three Sentinels. A failover while
// clients write, by SENTINEL FAILOVER or by the master dying: redverb
// follows the new master by itself; commands caught on the old master
// during the switch may get an error (never a hang), and within a few
// seconds everything succeeds again, verbs too (their scripts reloaded on
// the new master), with TRANSFER totals conserved.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	for _, how := range []string{"SENTINEL FAILOVER", "master killed"} {
		t.Run(how, func(t *testing.T) {
			s := redistest.StartSentinels(t)
			p := redistest.StartProxy(t, s.URL(), redistest.WithVerbs(t, ""))
			l := startLoad(t, p.Addr())
			// A client holding a connection of its own (WATCH) across the
			// failover.
			watcher := redistest.Dial(t, p.Addr())
			expect(t, watcher.Do("WATCH", "w"), "+OK\r\n")
			time.Sleep(300 * time.Millisecond)
			old := s.MasterAddr()
			var promoted string
			if how == "master killed" {
				promoted = s.KillMaster(t)
			} else {
				promoted = s.Failover(t)
			}
			switched := time.Now()
			t.Logf("%s: %s took over from %s", how, promoted, old)
			// Within a few seconds of the switch, every client's commands succeed.
			time.Sleep(3 * time.Second)
			l.mu.Lock()
			errorsBefore, lastError := len(l.bad), l.failedAt
			l.bad, l.failedAt = nil, time.Time{}
			l.mu.Unlock()
			before := l.total()
			time.Sleep(time.Second)
			if l.total() == before {
				t.Fatal("no progress after the failover")
			}
			if errorsBefore > 0 {
				t.Logf("errors during the switch (at most 20 kept: %d), the last %v after the Sentinels named the new master",
					errorsBefore, lastError.Sub(switched).Round(time.Millisecond))
			}
			close(l.stop)
			l.wg.Wait()
			for _, msg := range l.bad {
				t.Errorf("%v after the switch: %s", time.Since(switched).Round(time.Millisecond), msg)
			}
			c := redis.NewClient(&redis.Options{Addr: p.Addr()})
			defer c.Close()
			for _, tag := range l.tags {
				a, _ := c.Get(context.Background(), tag+":a").Int64()
				b, _ := c.Get(context.Background(), tag+":b").Int64()
				if a+b != 2*loadBalance {
					t.Errorf("%s: a=%d b=%d, total %d, want %d", tag, a, b, a+b, 2*loadBalance)
				}
			}
			if got := string(redistest.Command(promoted, "GET", l.tags[0]+":a")); got == "" || got == "$-1\r\n" {
				t.Errorf("the new master has no data: %q", got)
			}
			// Its connection to the old master is closed (Sentinel kills the
			// demoted master's clients, and redverb closes the connections
			// to a server that left the topology), so its writes reach the
			// new master.
			for deadline := time.Now().Add(15 * time.Second); ; {
				got := watcher.Do("SET", "w", "1")
				if got == "+OK\r\n" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the watching client still gets %q 15s after the failover", got)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}
