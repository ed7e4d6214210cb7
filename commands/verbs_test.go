package commands_test

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/redistest"
)

func start(t *testing.T) (*redistest.Redis, *redistest.Proxy) {
	t.Helper()
	r := redistest.StartRedis(t)
	return r, redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, ""))
}

// step is one command and its exact expected reply; "~" means any reply
// of that first byte.
type step struct {
	cmd  string
	want string
}

func run(t *testing.T, c *redistest.Conn, steps []step) {
	t.Helper()
	for _, s := range steps {
		got := c.Do(strings.Fields(s.cmd)...)
		if strings.HasPrefix(s.want, "~") {
			if got[:1] != s.want[1:2] {
				t.Errorf("%s: got %q, want a %q reply", s.cmd, got, s.want[1:2])
			}
			continue
		}
		if got != s.want {
			t.Errorf("%s:\n got %q\nwant %q", s.cmd, got, s.want)
		}
	}
}

const (
	ok        = "+OK\r\n"
	nilBulk   = "$-1\r\n"
	one       = ":1\r\n"
	zero      = ":0\r\n"
	wrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
	syntax    = "-ERR syntax error\r\n"
	notInt    = "-ERR value is not an integer or out of range\r\n"
)

func arity(verb string) string {
	return "-ERR wrong number of arguments for '" + verb + "' command\r\n"
}

func bulk(s string) string { return redistest.Bulk(s) }

func TestCAS(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	run(t, c, []step{
		{"CAS k a b", zero}, // a missing key never matches
		{"SET k a EX 1000", ok},
		{"CAS k x b", zero},
		{"CAS k a b", one},
		{"GET k", bulk("b")},
		{"TTL k", ":-1\r\n"}, // like SET, a swap clears the TTL
		{"SET k b EX 1000", ok},
		{"CAS k b c KEEPTTL", one},
		{"TTL k", ":1000\r\n"},
		{"CAS k c d EX 50", one},
		{"TTL k", ":50\r\n"},
		{"CAS k d e PX 5000000", one},
		{"TTL k", ":5000\r\n"},
		{"cas k e f", one}, // case-insensitive
		{"CAS k", arity("cas")},
		{"CAS k f g EX", syntax},
		{"CAS k f g EX 0", "-ERR invalid expire time in 'cas' command\r\n"},
		{"CAS k f g EX x", notInt},
		{"CAS k f g EX 10 PX 10", syntax},
		{"CAS k f g KEEPTTL EX 10", syntax},
		{"CAS k f g NX", syntax},
		{"GET k", bulk("f")}, // refused calls changed nothing
		{"HSET h f v", one},
		{"CAS h a b", wrongType},
	})
	// Binary-safe: empty strings and NUL bytes.
	expectDo(t, c, []string{"SET", "bin", "a\x00b"}, ok)
	expectDo(t, c, []string{"CAS", "bin", "a\x00b", ""}, one)
	expectDo(t, c, []string{"GET", "bin"}, bulk(""))
	expectDo(t, c, []string{"CAS", "bin", "", "x\x00"}, one)
	expectDo(t, c, []string{"GET", "bin"}, bulk("x\x00"))
}

func expectDo(t *testing.T, c *redistest.Conn, args []string, want string) {
	t.Helper()
	if got := c.Do(args...); got != want {
		t.Errorf("%q: got %q, want %q", args, got, want)
	}
}

func TestCAD(t *testing.T) {
	_, p := start(t)
	run(t, redistest.Dial(t, p.Addr()), []step{
		{"CAD k v", zero},
		{"SET k v", ok},
		{"CAD k other", zero},
		{"CAD k v", one},
		{"EXISTS k", zero},
		{"CAD k", arity("cad")},
		{"CAD k v extra", arity("cad")},
	})
}

func TestTransfer(t *testing.T) {
	_, p := start(t)
	run(t, redistest.Dial(t, p.Addr()), []step{
		{"TRANSFER a b 10", zero}, // missing keys count as 0
		{"EXISTS a b", zero},      // nothing changed
		{"SET a 100", ok},
		{"TRANSFER a b 30", one},
		{"MGET a b", "*2\r\n" + bulk("70") + bulk("30")},
		{"TRANSFER a b 71", zero},
		{"TRANSFER a a 70", one}, // same account, funds suffice
		{"GET a", bulk("70")},
		{"TRANSFER a b 0", "-ERR amount must be a positive integer\r\n"},
		{"TRANSFER a b -5", "-ERR amount must be a positive integer\r\n"},
		{"TRANSFER a b x", "-ERR amount must be a positive integer\r\n"},
		{"TRANSFER a b", arity("transfer")},
		{"TRANSFER a b 1 ONCE r", syntax},
		{"TRANSFER a b 1 TWICE r 10", syntax},
		{"SET bad notanumber", ok},
		{"TRANSFER bad b 1", "-ERR balance is not an integer\r\n"},
		{"TRANSFER a bad 1", "-ERR balance is not an integer\r\n"},
		{"SET full 9223372036854775807", ok},
		{"TRANSFER a full 1", "-ERR increment or decrement would overflow\r\n"},
		{"MGET a full", "*2\r\n" + bulk("70") + bulk("9223372036854775807")},
		{"SET rich 9223372036854775807", ok},
		{"TRANSFER rich poor 9223372036854775807", one},
		{"MGET rich poor", "*2\r\n" + bulk("0") + bulk("9223372036854775807")},
		{"HSET h f 1", one},
		{"TRANSFER h a 1", wrongType},
		// ONCE: a retried call moves money once and returns the same outcome.
		{"TRANSFER a b 5 ONCE receipt:1 100", one},
		{"TRANSFER a b 5 ONCE receipt:1 100", one},
		{"MGET a b", "*2\r\n" + bulk("65") + bulk("35")},
		{"TRANSFER a b 6 ONCE receipt:1 100", "-ERR receipt key was used for a different transfer\r\n"},
		{"TRANSFER b a 5 ONCE receipt:1 100", "-ERR receipt key was used for a different transfer\r\n"},
		{"TTL receipt:1", ":100\r\n"},
		{"TRANSFER a b 1000 ONCE receipt:2 100", zero}, // a refusal is recorded too
		{"SET a 5000", ok},
		{"TRANSFER a b 1000 ONCE receipt:2 100", zero},
		{"GET a", bulk("5000")},
		{"TRANSFER a b 1 ONCE receipt:3 0", "-ERR invalid expire time in 'transfer' command\r\n"},
	})
}

// 50 clients make 20,000 random transfers among 20 accounts while an
// observer reads all balances atomically: the total never changes and no
// balance is ever negative.
func TestTransferConcurrent(t *testing.T) {
	_, p := start(t)
	const accounts, clients, total, initial = 20, 50, 20000, 1000
	setup := redistest.Dial(t, p.Addr())
	keys := make([]string, accounts)
	for i := range keys {
		keys[i] = "acct:" + strconv.Itoa(i)
		setup.Do("SET", keys[i], strconv.Itoa(initial))
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	var moved, refused atomic.Int64
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			conn := redistest.Dial(t, p.Addr())
			rng := rand.New(rand.NewSource(seed))
			for i := 0; i < total/clients; i++ {
				from, to := keys[rng.Intn(accounts)], keys[rng.Intn(accounts)]
				switch reply := conn.Do("TRANSFER", from, to, strconv.Itoa(1+rng.Intn(300))); reply {
				case one:
					moved.Add(1)
				case zero:
					refused.Add(1)
				default:
					t.Errorf("TRANSFER: %q", reply)
					return
				}
			}
		}(int64(c))
	}
	observer := make(chan error, 1)
	go func() {
		conn := redistest.Dial(t, p.Addr())
		for !done.Load() {
			args := append([]string{"MGET"}, keys...)
			sum := 0
			for _, e := range strings.Split(conn.Do(args...), "\r\n") {
				if n, err := strconv.Atoi(e); err == nil && !strings.HasPrefix(e, "$") {
					if n < 0 {
						observer <- fmt.Errorf("negative balance %d", n)
						return
					}
					sum += n
				}
			}
			if sum != accounts*initial {
				observer <- fmt.Errorf("total is %d, want %d", sum, accounts*initial)
				return
			}
		}
		observer <- nil
	}()
	wg.Wait()
	done.Store(true)
	if err := <-observer; err != nil {
		t.Fatal(err)
	}
	if moved.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("moved %d, refused %d: the test should exercise both", moved.Load(), refused.Load())
	}
}

func TestLockUnlockRenew(t *testing.T) {
	_, p := start(t)
	run(t, redistest.Dial(t, p.Addr()), []step{
		{"LOCK l t1 10000", one},
		{"GET l", bulk("t1")}, // interoperates with SET l token NX PX ttl
		{"LOCK l t2 10000", zero},
		{"LOCK l t1 20000", one}, // the holder renews by re-acquiring
		{"UNLOCK l t2", zero},
		{"RENEW l t2 5000", zero},
		{"RENEW l t1 5000000", one},
		{"TTL l", ":5000\r\n"},
		{"UNLOCK l t1", one},
		{"EXISTS l", zero},
		{"SET l other NX PX 10000", ok},
		{"LOCK l t1 1000", zero},
		{"LOCK l t1 0", "-ERR invalid expire time in 'lock' command\r\n"},
		{"LOCK l t1 x", notInt},
		{"LOCK l t1 100 WAIT", syntax},
		{"LOCK l t1 100 WAIT -1", "-ERR timeout is negative\r\n"},
		{"LOCK l t1 100 FENCE FENCE", syntax},
		{"LOCK l t1 100 BOGUS", syntax},
		{"LOCK l t1", arity("lock")},
		{"UNLOCK l", arity("unlock")},
		{"RENEW l t1", arity("renew")},
		{"RENEW l t1 0", "-ERR invalid expire time in 'renew' command\r\n"},
		{"LOCK l t1 100 WAIT 0", zero},
	})
}

// Fencing tokens strictly increase across releases and expirations.
func TestLockFence(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	last := int64(0)
	for i := 0; i < 20; i++ {
		reply := c.Do("LOCK", "f", "t"+strconv.Itoa(i), "50", "FENCE")
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(reply, ":")), 10, 64)
		if err != nil || n <= last {
			t.Fatalf("fencing token %q after %d", reply, last)
		}
		last = n
		if i%2 == 0 {
			expectDo(t, c, []string{"UNLOCK", "f", "t" + strconv.Itoa(i)}, one)
		} else {
			time.Sleep(60 * time.Millisecond) // let it expire
		}
	}
	// The counter shares the lock's cluster slot (hash tag).
	expectDo(t, c, []string{"LOCK", "{user1}:lock", "a", "1000", "FENCE"}, one)
	expectDo(t, c, []string{"EXISTS", "{user1}:lock:fence"}, one)
}

// 30 clients contend for one lock around a critical section that detects a
// second holder.
func TestLockMutualExclusion(t *testing.T) {
	_, p := start(t)
	const clients, rounds = 30, 20
	var inside, overlaps, entered atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			c := redistest.Dial(t, p.Addr())
			token := "client-" + strconv.Itoa(id)
			for r := 0; r < rounds; r++ {
				if reply := c.Do("LOCK", "mutex", token, "5000", "WAIT", "10000"); reply != one {
					t.Errorf("LOCK WAIT: %q", reply)
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				entered.Add(1)
				time.Sleep(100 * time.Microsecond)
				inside.Add(-1)
				if reply := c.Do("UNLOCK", "mutex", token); reply != one {
					t.Errorf("UNLOCK: %q", reply)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Fatalf("%d overlapping critical sections", overlaps.Load())
	}
	if entered.Load() != clients*rounds {
		t.Fatalf("entered %d times, want %d", entered.Load(), clients*rounds)
	}
}

// A waiter wakes on UNLOCK, long before the holder's lease would expire,
// and gives up at its timeout.
func TestLockWait(t *testing.T) {
	_, p := start(t)
	holder, waiter := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())
	expectDo(t, holder, []string{"LOCK", "w", "holder", "60000"}, one)
	waiter.Send("LOCK", "w", "waiter", "60000", "WAIT", "30000")
	time.Sleep(100 * time.Millisecond)
	released := time.Now()
	expectDo(t, holder, []string{"UNLOCK", "w", "holder"}, one)
	if got := waiter.Read(); got != one {
		t.Fatalf("waiter got %q", got)
	}
	if waited := time.Since(released); waited > 5*time.Second {
		t.Fatalf("waiter took %v after the release: it did not wake on UNLOCK", waited)
	}
	// Timing out answers 0 and changes nothing.
	before := time.Now()
	expectDo(t, holder, []string{"LOCK", "w", "holder", "1000", "WAIT", "200"}, zero)
	if d := time.Since(before); d < 200*time.Millisecond {
		t.Fatalf("WAIT 200 returned after %v", d)
	}
	expectDo(t, holder, []string{"GET", "w"}, bulk("waiter"))
	// A lease that expires hands the lock over without any UNLOCK.
	expectDo(t, holder, []string{"LOCK", "e", "a", "150"}, one)
	expectDo(t, waiter, []string{"LOCK", "e", "b", "1000", "WAIT", "5000"}, one)
	// Inside MULTI, WAIT cannot wait: one attempt.
	waiter.Do("MULTI")
	waiter.Do("LOCK", "w", "third", "1000", "WAIT", "5000")
	expectDo(t, waiter, []string{"EXEC"}, "*1\r\n"+zero)
}

func TestRateLimitReplies(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	for _, algo := range []string{"GCRA", "SLIDING", "FIXED"} {
		key := "rl:" + algo
		for i := 2; i >= 0; i-- {
			got := fields(t, c.Do("RATELIMIT", key, "3", "60000", "ALGO", algo))
			if got[0] != 1 || got[1] != int64(i) || got[2] != -1 || got[3] <= 0 || got[3] > 60000 {
				t.Errorf("%s admission %d: %v", algo, 3-i, got)
			}
		}
		denied := fields(t, c.Do("RATELIMIT", key, "3", "60000", "ALGO", algo))
		if denied[0] != 0 || denied[1] != 0 || denied[2] <= 0 || denied[2] > 60000 || denied[3] < denied[2] {
			t.Errorf("%s denied: %v", algo, denied)
		}
		// A denied call changes nothing: the same answer again.
		again := fields(t, c.Do("RATELIMIT", key, "3", "60000", "ALGO", algo))
		if again[0] != 0 || again[3] > denied[3] {
			t.Errorf("%s second denial %v after %v", algo, again, denied)
		}
	}
	got := fields(t, c.Do("RATELIMIT", "cost", "10", "1000", "COST", "4"))
	if got[0] != 1 || got[1] != 6 {
		t.Errorf("COST 4 of 10: %v", got)
	}
	run(t, c, []step{
		{"RATELIMIT k 3 1000 COST 4", "-ERR cost exceeds limit\r\n"},
		{"RATELIMIT k 0 1000", "-ERR limit must be a positive integer\r\n"},
		{"RATELIMIT k 3 0", "-ERR period must be a positive integer\r\n"},
		{"RATELIMIT k x 1000", notInt},
		{"RATELIMIT k 3 1000 ALGO LEAKY", syntax},
		{"RATELIMIT k 3 1000 COST", syntax},
		{"RATELIMIT k 3", arity("ratelimit")},
		{"EXISTS k", zero},
	})
}

func fields(t *testing.T, reply string) []int64 {
	t.Helper()
	var out []int64
	for _, line := range strings.Split(reply, "\r\n") {
		if strings.HasPrefix(line, ":") {
			n, _ := strconv.ParseInt(line[1:], 10, 64)
			out = append(out, n)
		}
	}
	if !strings.HasPrefix(reply, "*") || len(out) < 4 {
		t.Fatalf("not an array of integers: %q", reply)
	}
	return out
}

// Many clients hammer one key for less than one period: no algorithm may
// admit more than its limit (GCRA: its burst plus what it refilled since).
func TestRateLimitConcurrent(t *testing.T) {
	_, p := start(t)
	const limit, period, clients = 20, 2000, 40
	for _, algo := range []string{"SLIDING", "FIXED", "GCRA"} {
		t.Run(algo, func(t *testing.T) {
			var admitted atomic.Int64
			var wg sync.WaitGroup
			began := time.Now()
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := redistest.Dial(t, p.Addr())
					for j := 0; j < 10; j++ {
						if f := fields(t, c.Do("RATELIMIT", "hammer:"+algo, strconv.Itoa(limit), strconv.Itoa(period), "ALGO", algo)); f[0] == 1 {
							admitted.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(began)
			allowed := int64(limit)
			if algo == "GCRA" { // refills one unit per period/limit
				allowed += int64(elapsed/(period*time.Millisecond/limit)) + 1
			}
			if elapsed >= period*time.Millisecond {
				t.Skipf("the burst took %v, longer than a period; cannot judge", elapsed)
			}
			if n := admitted.Load(); n > allowed || n < limit {
				t.Fatalf("%d admitted within %v, want between %d and %d", n, elapsed, limit, allowed)
			}
		})
	}
}

func TestThrottleLikeRedisCell(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	// redis-cell's own test: max_burst 4, 1 per second.
	if got := fields(t, c.Do("CL.THROTTLE", "th", "4", "1", "1", "6")); fmt.Sprint(got) != "[1 5 5 -1 0]" {
		t.Errorf("quantity over the limit: %v, want [1 5 5 -1 0]", got)
	}
	for i := 4; i >= 0; i-- {
		got := fields(t, c.Do("CL.THROTTLE", "th", "4", "1", "1"))
		if got[0] != 0 || got[1] != 5 || got[2] != int64(i) || got[3] != -1 {
			t.Errorf("request %d: %v", 5-i, got)
		}
	}
	got := fields(t, c.Do("CL.THROTTLE", "th", "4", "1", "1"))
	if got[0] != 1 || got[1] != 5 || got[2] != 0 || got[3] != 0 && got[3] != 1 || got[4] < 4 || got[4] > 5 {
		t.Errorf("sixth request: %v, want [1 5 0 0|1 4|5]", got)
	}
	run(t, c, []step{
		{"CL.THROTTLE th 4 0 1", "-ERR max_burst and quantity must be >= 0, count and period must be > 0\r\n"},
		{"CL.THROTTLE th x 1 1", notInt},
		{"CL.THROTTLE th 4 1", arity("cl.throttle")},
	})
}

func TestIncrMax(t *testing.T) {
	_, p := start(t)
	run(t, redistest.Dial(t, p.Addr()), []step{
		{"INCRMAX n 5 10", ":5\r\n"},
		{"INCRMAX n 6 10", nilBulk},
		{"GET n", bulk("5")},
		{"INCRMAX n 5 10", ":10\r\n"},
		{"INCRMAX n -20 10", ":-10\r\n"},
		{"INCRMAX fresh 11 10", nilBulk},
		{"EXISTS fresh", zero},
		{"SET big 9223372036854775806", ok},
		{"INCRMAX big 1 9223372036854775807", ":9223372036854775807\r\n"},
		{"INCRMAX big 1 9223372036854775807", "-ERR increment or decrement would overflow\r\n"},
		{"SET near 9007199254740993", ok}, // 2^53+1: a double would round it
		{"INCRMAX near 2 9007199254740995", ":9007199254740995\r\n"},
		{"INCRMAX near 1 9007199254740995", nilBulk},
		{"SET s abc", ok},
		{"INCRMAX s 1 10", notInt},
		{"INCRMAX n x 10", notInt},
		{"INCRMAX n 1", arity("incrmax")},
	})
}

func TestSetIf(t *testing.T) {
	_, p := start(t)
	run(t, redistest.Dial(t, p.Addr()), []step{
		{"SETIFGT g 5", one},
		{"SETIFGT g 3", zero},
		{"SETIFGT g 5", zero},
		{"SETIFGT g 5.5", one},
		{"SETIFGT g 6 EX 100", one},
		{"TTL g", ":100\r\n"},
		{"GET g", bulk("6")},
		{"SETIFLT g 7", zero},
		{"SETIFLT g -1e3", one},
		{"GET g", bulk("-1e3")},
		{"SET big 9007199254740993", ok},
		{"SETIFGT big 9007199254740992", zero},
		{"SETIFGT big 9007199254740994", one},
		{"SETIFGT g abc", "-ERR value is not a valid float\r\n"},
		{"SET s abc", ok},
		{"SETIFGT s 1", "-ERR value is not a valid float\r\n"},
		{"SETIFGT g 1 KEEPTTL", syntax},
		{"SETIFGT g 1 EX 0", "-ERR invalid expire time in 'setifgt' command\r\n"},
		{"SETIFLT g", arity("setiflt")},
	})
}

func TestHashVerbs(t *testing.T) {
	_, p := start(t)
	run(t, redistest.Dial(t, p.Addr()), []step{
		{"HINCRMULTI h a 1 b 2 a 10", "*3\r\n:1\r\n:2\r\n:11\r\n"},
		{"HSET h s text", one},
		{"HINCRMULTI h a 1 s 1", "-ERR hash value is not an integer\r\n"},
		{"HGET h a", bulk("11")}, // all or nothing
		{"HSET h max 9223372036854775807", one},
		{"HINCRMULTI h a 1 max 1", "-ERR increment or decrement would overflow\r\n"},
		{"HGET h a", bulk("11")},
		{"HINCRMULTI h a x", notInt},
		{"HINCRMULTI h a", arity("hincrmulti")},
		{"HINCRMULTI h a 1 b", arity("hincrmulti")},
		{"HGETORSET g f1 v1 f2 v2", "*4\r\n" + bulk("f1") + bulk("v1") + bulk("f2") + bulk("v2")},
		{"HGETORSET g f1 other", "*4\r\n" + bulk("f1") + bulk("v1") + bulk("f2") + bulk("v2")},
		{"HGETORSET g f1", arity("hgetorset")},
		{"SET str x", ok},
		{"HGETORSET str f v", wrongType},
		{"HINCRMULTI str f 1", wrongType},
		{"HELLO 3", "~%"},
		{"HGETORSET g f1 x", "%2\r\n" + bulk("f1") + bulk("v1") + bulk("f2") + bulk("v2")},
		{"HGETALL g", "%2\r\n" + bulk("f1") + bulk("v1") + bulk("f2") + bulk("v2")},
		{"HINCRMULTI h a 1", "*1\r\n:12\r\n"},
	})
}

func TestReserve(t *testing.T) {
	_, p := start(t)
	run(t, redistest.Dial(t, p.Addr()), []step{
		{"RESERVE stock q item", zero},
		{"SET stock 3", ok},
		{"RESERVE stock q item1 COUNT 2", one},
		{"RESERVE stock q item2 COUNT 2", zero},
		{"RESERVE stock q item3", one},
		{"GET stock", bulk("0")},
		{"LRANGE q 0 -1", "*2\r\n" + bulk("item1") + bulk("item3")},
		{"RESERVE stock q item COUNT 0", "-ERR count must be a positive integer\r\n"},
		{"RESERVE stock q item LIMIT 1", syntax},
		{"RESERVE stock q", arity("reserve")},
		{"SET stock 5", ok},
		{"SET notlist x", ok},
		{"RESERVE stock notlist item", wrongType},
		{"GET stock", bulk("5")},
	})
}

// CLIENT UNBLOCK wakes a client waiting in LOCK ... WAIT, which waits in
// the proxy rather than on a backend connection: TIMEOUT answers as the
// wait's own timeout, ERROR with Redis's -UNBLOCKED.
func TestLockWaitUnblocked(t *testing.T) {
	_, p := start(t)
	holder := redistest.Dial(t, p.Addr())
	expectDo(t, holder, []string{"LOCK", "held", "owner", "60000"}, one)
	for reason, want := range map[string]string{"TIMEOUT": ":0\r\n", "ERROR": "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"} {
		waiter, admin := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())
		id := strings.Trim(waiter.Do("CLIENT", "ID"), ":\r\n")
		waiter.Send("LOCK", "held", "other", "1000", "WAIT", "60000")
		deadline := time.Now().Add(5 * time.Second)
		for admin.Do("CLIENT", "UNBLOCK", id, reason) != one {
			if time.Now().After(deadline) {
				t.Fatal("CLIENT UNBLOCK never found the waiting client")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := waiter.Read(); got != want {
			t.Fatalf("%s: LOCK WAIT answered %q, want %q", reason, got, want)
		}
		expectDo(t, waiter, []string{"PING"}, "+PONG\r\n")
	}
}
