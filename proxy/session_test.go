package proxy_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/proxy"
)

func setup(t *testing.T, opts ...redistest.ProxyOption) (*redistest.Redis, *redistest.Proxy) {
	t.Helper()
	r := redistest.StartRedis(t)
	return r, redistest.StartProxy(t, r.URL(), opts...)
}

func expect(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestPipelineOfThousandCommands(t *testing.T) {
	_, p := setup(t)
	c := redistest.Dial(t, p.Addr())
	var buf []byte
	for i := 0; i < 1000; i++ {
		buf = append(buf, fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$%d\r\nv%d\r\n*2\r\n$3\r\nGET\r\n$%d\r\nk%d\r\n",
			len(strconv.Itoa(i))+1, i, len(strconv.Itoa(i))+1, i, len(strconv.Itoa(i))+1, i)...)
	}
	c.Write(buf)
	for i := 0; i < 1000; i++ {
		expect(t, c.Read(), "+OK\r\n")
		expect(t, c.Read(), redistest.Bulk("v"+strconv.Itoa(i)))
	}
}

// Every client pipelines commands whose replies name the client and the
// position, so a reply delivered to the wrong client or out of order fails.
func TestConcurrentClientsGetOwnReplies(t *testing.T) {
	_, p := setup(t)
	const clients, rounds, depth = 100, 20, 10
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for id := 0; id < clients; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redistest.Dial(t, p.Addr())
			for r := 0; r < rounds; r++ {
				for d := 0; d < depth; d++ {
					if d%2 == 0 {
						c.Send("ECHO", fmt.Sprintf("c%d-r%d-d%d", id, r, d))
					} else {
						c.Send("INCR", fmt.Sprintf("counter:%d", id))
					}
				}
				for d := 0; d < depth; d++ {
					got, err := c.ReadErr(10 * time.Second)
					var want string
					if d%2 == 0 {
						want = redistest.Bulk(fmt.Sprintf("c%d-r%d-d%d", id, r, d))
					} else {
						want = fmt.Sprintf(":%d\r\n", r*depth/2+d/2+1)
					}
					if err != nil || got != want {
						errs <- fmt.Sprintf("client %d round %d: got %q (%v), want %q", id, r, got, err, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestSelectIsPerClient(t *testing.T) {
	_, p := setup(t)
	a, b := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())
	expect(t, a.Do("SELECT", "5"), "+OK\r\n")
	expect(t, a.Do("SET", "k", "in5"), "+OK\r\n")
	expect(t, b.Do("GET", "k"), "$-1\r\n")
	expect(t, b.Do("SET", "k", "in0"), "+OK\r\n")
	expect(t, a.Do("GET", "k"), redistest.Bulk("in5"))
	expect(t, b.Do("GET", "k"), redistest.Bulk("in0"))
	expect(t, a.Do("SELECT", "999"), "-ERR DB index is out of range\r\n")
	expect(t, a.Do("SELECT", "x"), "-ERR value is not an integer or out of range\r\n")
	expect(t, a.Do("SELECT"), "-ERR wrong number of arguments for 'select' command\r\n")
	expect(t, a.Do("GET", "k"), redistest.Bulk("in5"))
	// A transaction runs in the client's database.
	a.Do("MULTI")
	a.Do("GET", "k")
	expect(t, a.Do("EXEC"), "*1\r\n"+redistest.Bulk("in5"))
}

func TestTransactions(t *testing.T) {
	r, p := setup(t)
	a, b := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())

	expect(t, a.Do("MULTI"), "+OK\r\n")
	expect(t, a.Do("SET", "x", "1"), "+QUEUED\r\n")
	// Not visible to others before EXEC: the transaction is on its own connection.
	expect(t, b.Do("GET", "x"), "$-1\r\n")
	expect(t, a.Do("INCR", "x"), "+QUEUED\r\n")
	expect(t, a.Do("EXEC"), "*2\r\n+OK\r\n:2\r\n")

	// WATCH aborted by another client: EXEC answers the null array.
	expect(t, a.Do("WATCH", "x"), "+OK\r\n")
	expect(t, b.Do("SET", "x", "changed"), "+OK\r\n")
	expect(t, a.Do("MULTI"), "+OK\r\n")
	expect(t, a.Do("SET", "x", "mine"), "+QUEUED\r\n")
	expect(t, a.Do("EXEC"), "*-1\r\n")
	expect(t, a.Do("GET", "x"), redistest.Bulk("changed"))

	expect(t, a.Do("MULTI"), "+OK\r\n")
	expect(t, a.Do("MULTI"), "-ERR MULTI calls can not be nested\r\n")
	expect(t, a.Do("DISCARD"), "+OK\r\n")
	expect(t, a.Do("EXEC"), "-ERR EXEC without MULTI\r\n")
	expect(t, a.Do("DISCARD"), "-ERR DISCARD without MULTI\r\n")

	// A queuing error aborts the whole transaction.
	a.Do("MULTI")
	a.Do("SET", "y", "1")
	expect(t, a.Do("SET"), "-ERR wrong number of arguments for 'set' command\r\n")
	expect(t, a.Do("EXEC"), "-EXECABORT Transaction discarded because of previous errors.\r\n")
	expect(t, a.Do("GET", "y"), "$-1\r\n")

	// Pipelined transaction, as clients send them.
	a.Send("MULTI")
	a.Send("INCR", "p")
	a.Send("INCR", "p")
	a.Send("EXEC")
	a.Send("GET", "p")
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "*2\r\n:1\r\n:2\r\n", redistest.Bulk("2")} {
		expect(t, a.Read(), want)
	}

	// Many transactions reuse pooled connections instead of dialling.
	before := r.ConnectedClients()
	for i := 0; i < 200; i++ {
		a.Do("MULTI")
		a.Do("INCR", "n")
		a.Do("EXEC")
	}
	if after := r.ConnectedClients(); after > before+1 {
		t.Fatalf("backend connections grew from %d to %d over 200 transactions", before, after)
	}
}

// A client that vanishes inside MULTI or WATCH must not leave that state on
// a connection another client will get.
func TestVanishingClientLeavesNoTransaction(t *testing.T) {
	_, p := setup(t)
	for i := 0; i < 20; i++ {
		c := redistest.Dial(t, p.Addr())
		c.Do("WATCH", "w")
		c.Do("MULTI")
		c.Do("SET", "w", "from-dead-client")
		c.Close()
	}
	time.Sleep(50 * time.Millisecond)
	c := redistest.Dial(t, p.Addr())
	for i := 0; i < 20; i++ {
		expect(t, c.Do("MULTI"), "+OK\r\n")
		expect(t, c.Do("SET", "w", "ok"), "+QUEUED\r\n")
		expect(t, c.Do("EXEC"), "*1\r\n+OK\r\n")
	}
}

func TestPubSub(t *testing.T) {
	_, p := setup(t)
	subs := make([]*redistest.Conn, 3)
	for i := range subs {
		subs[i] = redistest.Dial(t, p.Addr())
		expect(t, subs[i].Do("SUBSCRIBE", "news"), "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n")
	}
	expect(t, subs[2].Do("PSUBSCRIBE", "n*"), "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n")
	pub := redistest.Dial(t, p.Addr())
	expect(t, pub.Do("PUBLISH", "news", "hello"), ":4\r\n")
	msg := "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
	for _, s := range subs {
		expect(t, s.Read(), msg)
	}
	expect(t, subs[2].Read(), "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n")

	// In subscribed mode only some commands are allowed, as in Redis.
	expect(t, subs[0].Do("GET", "x"), "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n")
	expect(t, subs[0].Do("PING"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
	expect(t, subs[0].Do("UNSUBSCRIBE", "news"), "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n")
	expect(t, pub.Do("PUBLISH", "news", "again"), ":3\r\n")
	expect(t, subs[0].Do("RESET"), "+RESET\r\n")
	expect(t, subs[0].Do("SET", "x", "1"), "+OK\r\n")

	// Unsubscribing without subscriptions, answered as Redis does.
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("UNSUBSCRIBE", "a", "b"), "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n")
	expect(t, c.Read(), "*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n")
	expect(t, c.Do("PING"), "+PONG\r\n")
}

// A subscriber that stops reading is cut off at a bounded backlog.
func TestSlowSubscriberIsDisconnected(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), func(s *proxy.Server, _ *backend.BackendOptions) {
		s.SubscriberBacklog = 1 << 20
	})
	slow := redistest.Dial(t, p.Addr())
	slow.Do("SUBSCRIBE", "firehose")
	pub := redistest.Dial(t, r.Addr())
	payload := strings.Repeat("x", 64<<10)
	deadline := time.Now().Add(20 * time.Second)
	for pub.Do("PUBLISH", "firehose", payload) != ":0\r\n" {
		if time.Now().After(deadline) {
			t.Fatal("slow subscriber was never disconnected")
		}
	}
}

func TestBlockedClientsDoNotStarveOthers(t *testing.T) {
	r, p := setup(t)
	const blocked = 200
	conns := make([]*redistest.Conn, blocked)
	for i := range conns {
		conns[i] = redistest.Dial(t, p.Addr())
		conns[i].Send("BLPOP", "queue:"+strconv.Itoa(i), "0")
	}
	time.Sleep(200 * time.Millisecond)
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("SET", "k", "v"), "+OK\r\n")
	expect(t, c.Do("GET", "k"), redistest.Bulk("v"))
	for i := range conns {
		expect(t, c.Do("RPUSH", "queue:"+strconv.Itoa(i), "item"), ":1\r\n")
	}
	for i, conn := range conns {
		expect(t, conn.Read(), "*2\r\n"+redistest.Bulk("queue:"+strconv.Itoa(i))+redistest.Bulk("item"))
	}
	// A client that disconnects while blocked releases its backend connection.
	before := r.ConnectedClients()
	gone := redistest.Dial(t, p.Addr())
	gone.Send("BLPOP", "never", "0")
	time.Sleep(50 * time.Millisecond)
	gone.Close()
	waitFor(t, func() bool { return r.ConnectedClients() <= before })
	expect(t, c.Do("RPUSH", "never", "x"), ":1\r\n")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConnectionCommands(t *testing.T) {
	_, p := setup(t)
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("PING"), "+PONG\r\n")
	expect(t, c.Do("ECHO", "x"), redistest.Bulk("x"))
	expect(t, c.Do("CLIENT", "GETNAME"), "$-1\r\n")
	expect(t, c.Do("CLIENT", "SETNAME", "worker-1"), "+OK\r\n")
	expect(t, c.Do("CLIENT", "SETNAME", "bad name"), "-ERR Client names cannot contain spaces, newlines or special characters.\r\n")
	expect(t, c.Do("CLIENT", "GETNAME"), redistest.Bulk("worker-1"))
	id := c.Do("CLIENT", "ID")
	if !strings.HasPrefix(id, ":") {
		t.Fatalf("CLIENT ID: %q", id)
	}
	info := c.Do("CLIENT", "INFO")
	if !strings.Contains(info, "id="+strings.TrimSpace(id[1:])+" ") || !strings.Contains(info, "name=worker-1") {
		t.Fatalf("CLIENT INFO %q does not describe client %s", info, id)
	}
	expect(t, c.Do("CLIENT", "SETINFO", "LIB-NAME", "go-redis"), "+OK\r\n")
	// NO-EVICT and NO-TOUCH are accepted as Redis accepts them, and shown.
	expect(t, c.Do("CLIENT", "NO-EVICT", "on"), "+OK\r\n")
	expect(t, c.Do("CLIENT", "NO-TOUCH", "ON"), "+OK\r\n")
	expect(t, c.Do("CLIENT", "NO-EVICT", "maybe"), "-ERR syntax error\r\n")
	expect(t, c.Do("CLIENT", "NO-EVICT"), "-ERR wrong number of arguments for 'client|no-evict' command\r\n")
	if info := c.Do("CLIENT", "INFO"); !strings.Contains(info, " flags=eT ") {
		t.Fatalf("CLIENT INFO after NO-EVICT and NO-TOUCH: %q", info)
	}
	expect(t, c.Do("CLIENT", "NO-EVICT", "off"), "+OK\r\n")
	expect(t, c.Do("CLIENT", "NO-TOUCH", "off"), "+OK\r\n")
	if info := c.Do("CLIENT", "INFO"); !strings.Contains(info, " flags=N ") {
		t.Fatalf("CLIENT INFO after both OFF: %q", info)
	}
	for _, cmd := range [][]string{{"SHUTDOWN"}, {"SYNC"}, {"PSYNC", "?", "-1"}, {"REPLCONF", "listening-port", "1"}, {"FAILOVER"}} {
		got := c.Do(cmd...)
		if !strings.HasPrefix(got, "-ERR ") || !strings.Contains(got, "not supported by redverb") {
			t.Errorf("%v: got %q, want a clear refusal", cmd, got)
		}
	}
	expect(t, c.Do("RESET"), "+RESET\r\n")
	expect(t, c.Do("CLIENT", "GETNAME"), "$-1\r\n")
	expect(t, c.Do("QUIT"), "+OK\r\n")
	if _, err := c.ReadErr(time.Second); err == nil {
		t.Fatal("connection still open after QUIT")
	}
}

func TestHello3(t *testing.T) {
	_, p := setup(t)
	c := redistest.Dial(t, p.Addr())
	hello := c.Do("HELLO", "3")
	if !strings.HasPrefix(hello, "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n") || !strings.Contains(hello, "$5\r\nproto\r\n:3\r\n") {
		t.Fatalf("HELLO 3 reply: %q", hello)
	}
	c.Do("HSET", "h", "f", "v")
	expect(t, c.Do("HGETALL", "h"), "%1\r\n$1\r\nf\r\n$1\r\nv\r\n")
	expect(t, c.Do("GET", "missing"), "_\r\n")
	expect(t, c.Do("CLIENT", "GETNAME"), "_\r\n")
	expect(t, c.Do("HELLO", "4"), "-NOPROTO unsupported protocol version\r\n")
	// Another client stays on RESP2.
	d := redistest.Dial(t, p.Addr())
	expect(t, d.Do("HGETALL", "h"), "*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
	// Pub/sub in RESP3 uses push frames, and other commands stay allowed.
	expect(t, c.Do("SUBSCRIBE", "ch"), ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
	expect(t, c.Do("GET", "missing"), "_\r\n")
	d.Do("PUBLISH", "ch", "m")
	expect(t, c.Read(), ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n")
	expect(t, c.Do("HELLO", "2", "SETNAME", "back-to-2")[:4], "*14\r")
}

func TestAuth(t *testing.T) {
	_, p := setup(t, redistest.WithPassword("s3cret"))
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("GET", "k"), "-NOAUTH Authentication required.\r\n")
	expect(t, c.Do("HELLO", "3"), "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n")
	expect(t, c.Do("AUTH", "wrong"), "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	expect(t, c.Do("AUTH", "someone", "s3cret"), "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	expect(t, c.Do("AUTH", "s3cret"), "+OK\r\n")
	expect(t, c.Do("SET", "k", "v"), "+OK\r\n")
	expect(t, c.Do("RESET"), "+RESET\r\n")
	expect(t, c.Do("GET", "k"), "-NOAUTH Authentication required.\r\n")

	d := redistest.Dial(t, p.Addr())
	if got := d.Do("HELLO", "3", "AUTH", "default", "s3cret"); !strings.HasPrefix(got, "%7") {
		t.Fatalf("HELLO AUTH: %q", got)
	}
	expect(t, d.Do("GET", "k"), redistest.Bulk("v"))

	// An unauthenticated client cannot make the proxy buffer big requests.
	e := redistest.Dial(t, p.Addr())
	e.Write([]byte("*1\r\n$100000\r\n"))
	expect(t, e.ReadAll(2*time.Second), "-ERR Protocol error: unauthenticated bulk length\r\n")

	// Without requirepass, AUTH says so, as Redis does.
	_, open := setup(t)
	f := redistest.Dial(t, open.Addr())
	expect(t, f.Do("AUTH", "x"), "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n")
}
