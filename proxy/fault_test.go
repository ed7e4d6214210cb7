package proxy_test

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/proxy"
)

// faultRig is a persistent backend (every acknowledged write is on disk
// before its reply, so a kill loses none) and a proxy in front of it.
type faultRig struct {
	t          *testing.T
	r          *redistest.Redis
	p          *redistest.Proxy
	goroutines int
	shared     int // shared connections at the start
}

func newFaultRig(t *testing.T, opts ...redistest.ProxyOption) *faultRig {
	r := redistest.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always", "--enable-debug-command", "yes")
	p := redistest.StartProxy(t, r.URL(), append([]redistest.ProxyOption{redistest.WithVerbs(t, "")}, opts...)...)
	expect(t, redistest.Dial(t, p.Addr()).Do("PING"), "+PONG\r\n")
	return &faultRig{t: t, r: r, p: p, goroutines: runtime.NumGoroutine(), shared: p.Backend.Stats().Shared}
}

// restart kills the backend and starts it again on the same port.
func (f *faultRig) restart() { f.r.Restart() }

// settled checks, once the clients of a scenario are gone, that the proxy
// holds no more goroutines than before it, that every backend connection
// it counts is one Redis sees (none leaked, none forgotten), and that the
// next command succeeds.
func (f *faultRig) settled() {
	t := f.t
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats := f.p.Backend.Stats()
		atRedis := f.r.ConnectedClients()
		g := runtime.NumGoroutine()
		// Shared connections and the LOCK wake-up subscription are the only
		// ones outside the pool.
		// A shared connection opened since (another protocol, or a spill
		// connection while the backend was stalled) runs a reader and a writer.
		ok := g <= f.goroutines+2+2*max(0, stats.Shared-f.shared) && atRedis == stats.Open && stats.Open <= stats.Idle+stats.Shared+1
		if ok {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("not settled: %d goroutines (%d before), backend conns open %d (idle %d), redis sees %d\n%s",
				g, f.goroutines, stats.Open, stats.Idle, atRedis, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	expect(t, redistest.Dial(t, f.p.Addr()).Do("PING"), "+PONG\r\n")
}

// Writes pipelined while the backend is killed and restarted: every INCR
// gets exactly one reply, each success was really applied (no acknowledged
// write is lost), and none was applied twice.
func TestFaultBackendKilledMidPipeline(t *testing.T) {
	f := newFaultRig(t)
	const clients, batch = 4, 50
	var mu sync.Mutex
	successes, sent := 0, 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redistest.Dial(t, f.p.Addr())
			defer c.Close()
			var buf []byte
			for j := 0; j < batch; j++ {
				buf = append(buf, "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n"...)
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Write(buf)
				ok := 0
				for j := 0; j < batch; j++ {
					got := c.Read()
					switch {
					case got[0] == ':':
						ok++
					case !strings.HasPrefix(got, "-ERR backend unavailable"):
						t.Errorf("unexpected reply %q", got)
					}
				}
				mu.Lock()
				successes += ok
				sent += batch
				mu.Unlock()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	f.restart()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	direct := redistest.Dial(t, f.r.Addr())
	final, _ := strconv.Atoi(strings.Split(direct.Do("GET", "counter"), "\r\n")[1])
	direct.Close()
	if successes == 0 || successes == sent {
		t.Fatalf("the kill did not land mid-stream: %d of %d succeeded", successes, sent)
	}
	if final < successes || final > sent {
		t.Fatalf("counter %d: want between %d acknowledged and %d sent", final, successes, sent)
	}
	f.settled()
}

// A transaction whose backend dies before EXEC is gone, as it is for a
// client of Redis whose connection drops: EXEC fails and nothing of it runs.
func TestFaultBackendKilledMidMulti(t *testing.T) {
	f := newFaultRig(t)
	c := redistest.Dial(t, f.p.Addr())
	expect(t, c.Do("MULTI"), "+OK\r\n")
	expect(t, c.Do("SET", "tx", "1"), "+QUEUED\r\n")
	f.restart()
	if got := c.Do("EXEC"); !strings.HasPrefix(got, "-") {
		t.Fatalf("EXEC after the backend died: %q", got)
	}
	expect(t, c.Do("GET", "tx"), "$-1\r\n")
	expect(t, c.Do("MULTI"), "+OK\r\n")
	expect(t, c.Do("SET", "tx", "2"), "+QUEUED\r\n")
	expect(t, c.Do("EXEC"), "*1\r\n+OK\r\n")
	c.Close()
	f.settled()
}

func TestFaultBackendKilledMidBlockingCommand(t *testing.T) {
	f := newFaultRig(t)
	c := redistest.Dial(t, f.p.Addr())
	c.Send("BLPOP", "nothing", "0")
	time.Sleep(50 * time.Millisecond)
	f.restart()
	if got := c.Read(); !strings.HasPrefix(got, "-ERR backend unavailable") {
		t.Fatalf("BLPOP when the backend died: %q", got)
	}
	expect(t, c.Do("RPUSH", "l", "x"), ":1\r\n")
	expect(t, c.Do("BLPOP", "l", "0"), "*2\r\n$1\r\nl\r\n$1\r\nx\r\n")
	c.Close()
	f.settled()
}

// A subscriber loses its subscriptions with the backend, so the proxy
// closes it, as Redis's restart would; it can subscribe again at once.
func TestFaultBackendKilledMidPubSub(t *testing.T) {
	f := newFaultRig(t)
	sub := redistest.Dial(t, f.p.Addr())
	sub.Do("SUBSCRIBE", "ch")
	f.restart()
	if _, err := sub.ReadErr(5 * time.Second); err == nil {
		t.Fatal("subscriber kept its connection after the backend restarted")
	}
	again := redistest.Dial(t, f.p.Addr())
	again.Do("SUBSCRIBE", "ch")
	expect(t, redistest.Dial(t, f.p.Addr()).Do("PUBLISH", "ch", "hi"), ":1\r\n")
	expect(t, again.Read(), "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
	sub.Close()
	again.Close()
	f.settled()
}

// Transfers run while the backend is killed: money is conserved (each
// TRANSFER is all or nothing) and verbs work after the restart, whose
// empty script cache they reload.
func TestFaultBackendKilledMidVerb(t *testing.T) {
	f := newFaultRig(t)
	admin := redistest.Dial(t, f.p.Addr())
	expect(t, admin.Do("MSET", "{acct}a", "1000", "{acct}b", "1000"), "+OK\r\n")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redistest.Dial(t, f.p.Addr())
			defer c.Close()
			from, to := "{acct}a", "{acct}b"
			if i%2 == 1 {
				from, to = to, from
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Send("TRANSFER", from, to, "1")
				c.Send("LOCK", "{acct}lock", "tok"+strconv.Itoa(i), "1000")
				c.Send("UNLOCK", "{acct}lock", "tok"+strconv.Itoa(i))
				for j := 0; j < 3; j++ {
					if got := c.Read(); strings.HasPrefix(got, "-") && !strings.HasPrefix(got, "-ERR backend unavailable") &&
						!strings.HasPrefix(got, "-ERR insufficient") {
						t.Errorf("unexpected reply %q", got)
					}
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	f.restart()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	got := admin.Do("EVAL", "return tonumber(redis.call('GET', KEYS[1])) + tonumber(redis.call('GET', KEYS[2]))", "2", "{acct}a", "{acct}b")
	expect(t, got, ":2000\r\n")
	expect(t, admin.Do("TRANSFER", "{acct}a", "{acct}b", "5"), admin.Do("TRANSFER", "{acct}b", "{acct}a", "5"))
	admin.Close()
	f.settled()
}

// A backend frozen past every proxy timeout, then resumed: each command
// sent meanwhile gets one reply (the real one, or an error for a new
// connection whose handshake timed out), and everything works afterwards.
func TestFaultBackendFrozen(t *testing.T) {
	f := newFaultRig(t)
	f.r.Pause()
	type result struct {
		name, reply string
	}
	results := make(chan result, 3)
	run := func(name string, cmds ...[]string) {
		c := redistest.Dial(t, f.p.Addr())
		var got string
		for _, cmd := range cmds {
			c.Send(cmd...)
		}
		for range cmds {
			r, err := c.ReadErr(20 * time.Second)
			if err != nil {
				r = err.Error()
			}
			got += r
		}
		c.Close()
		results <- result{name, got}
	}
	go run("shared", []string{"SET", "k", "v"}, []string{"GET", "k"})
	go run("blocking", []string{"BLPOP", "none", "0.1"})
	go run("resp3", []string{"HELLO", "3"}, []string{"PING"})
	time.Sleep(3 * time.Second) // past the 2s dial and handshake timeout
	f.r.Resume()
	for i := 0; i < 3; i++ {
		r := <-results
		switch r.name {
		case "shared":
			expect(t, r.reply, "+OK\r\n$1\r\nv\r\n")
		case "blocking":
			expect(t, r.reply, "*-1\r\n")
		case "resp3":
			if !strings.HasSuffix(r.reply, "+PONG\r\n") {
				t.Errorf("RESP3 client during the freeze: %q", r.reply)
			}
		}
	}
	c := redistest.Dial(t, f.p.Addr())
	expect(t, c.Do("HELLO", "3")[:1], "%")
	expect(t, c.Do("GET", "k"), "$1\r\nv\r\n")
	c.Close()
	f.settled()
}

// DEBUG SLEEP holds the backend as it does for direct clients; others'
// replies arrive, correct, once it wakes.
func TestFaultBackendSlow(t *testing.T) {
	f := newFaultRig(t)
	sleeper, other := redistest.Dial(t, f.p.Addr()), redistest.Dial(t, f.p.Addr())
	sleeper.Send("DEBUG", "SLEEP", "0.3")
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	expect(t, other.Do("INCR", "n"), ":1\r\n")
	expect(t, sleeper.Read(), "+OK\r\n")
	if time.Since(start) < 100*time.Millisecond {
		t.Errorf("INCR did not wait for DEBUG SLEEP (%v): not the same backend behaviour", time.Since(start))
	}
	sleeper.Close()
	other.Close()
	f.settled()
}

// Clients that leave with replies pending, and a client that never reads
// a large stream of replies: the one is cleaned up, the other is
// disconnected at the output limit with Redis's log message, and neither
// disturbs anyone else.
func TestFaultClientsThatDoNotRead(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	f := newFaultRig(t, redistest.WithServer(func(s *proxy.Server) {
		s.ClientOutputLimit = 4 << 20
		s.Logger = zap.New(core)
	}))
	admin := redistest.Dial(t, f.p.Addr())
	big := strings.Repeat("x", 1000)
	for i := 0; i < 10; i++ {
		args := []string{"RPUSH", "big"}
		for j := 0; j < 100; j++ {
			args = append(args, big)
		}
		admin.Do(args...)
	}
	lrange := []byte("*4\r\n$6\r\nLRANGE\r\n$3\r\nbig\r\n$1\r\n0\r\n$2\r\n-1\r\n") // about 1 MB of reply

	for i := 0; i < 20; i++ {
		nc, err := net.Dial("tcp", f.p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(bytes.Repeat(lrange, 10))
		nc.Close()
	}

	hog, err := net.Dial("tcp", f.p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	hog.Write(bytes.Repeat(lrange, 50)) // 50 MB of replies, never read
	for deadline := time.Now().Add(10 * time.Second); logs.FilterMessageSnippet("scheduled to be closed ASAP for overcoming of output buffer limits").Len() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the client that never reads was not disconnected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	expect(t, admin.Do("LLEN", "big"), ":1000\r\n")
	admin.Close()
	hog.Close()
	f.settled()
}

// Ten thousand connections come and go while 50 clients work: every
// worker's replies stay its own and correct.
func TestFaultConnectionChurn(t *testing.T) {
	f := newFaultRig(t)
	stop := make(chan struct{})
	var workers sync.WaitGroup
	for w := 0; w < 50; w++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			c := redistest.Dial(t, f.p.Addr())
			defer c.Close()
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				tag := fmt.Sprintf("w%d-%d", w, n)
				c.Send("INCR", "worker:"+strconv.Itoa(w))
				c.Send("ECHO", tag)
				expect(t, c.Read(), ":"+strconv.Itoa(n)+"\r\n")
				expect(t, c.Read(), redistest.Bulk(tag))
			}
		}()
	}
	var churn sync.WaitGroup
	for g := 0; g < 4; g++ {
		churn.Add(1)
		go func() {
			defer churn.Done()
			for i := 0; i < 2500; i++ {
				nc, err := net.Dial("tcp", f.p.Addr())
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					return
				}
				if i%2 == 0 {
					nc.Write([]byte("PING\r\n"))
					buf := make([]byte, 7)
					nc.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, err := nc.Read(buf); err != nil || string(buf) != "+PONG\r\n" {
						t.Errorf("churn PING: %q %v", buf, err)
					}
				}
				nc.Close()
			}
		}()
	}
	churn.Wait()
	close(stop)
	workers.Wait()
	f.settled()
}
