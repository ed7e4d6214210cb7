package proxy_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/redistest"
)

// The cluster tests share one cluster of 3 masters, each with a replica:
// starting one takes seconds. Each test starts with it empty. Tests that
// change its shape (moving slots, failing over) leave it serving every
// slot again.
var (
	clusterOnce sync.Once
	cluster     *redistest.Cluster
	clusterErr  error
)

func sharedCluster(t *testing.T) *redistest.Cluster {
	t.Helper()
	clusterOnce.Do(func() { cluster, clusterErr = redistest.NewCluster(3, 1) })
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	if err := cluster.WaitStable(30e9); err != nil {
		t.Fatal(err)
	}
	for _, m := range cluster.Masters() {
		redistest.Command(m.Addr(), "FLUSHALL")
		redistest.Command(m.Addr(), "SCRIPT", "FLUSH")
	}
	return cluster
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Close()
	}
	os.Exit(code)
}

func TestClusterTransactionPinsToFirstKey(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("MULTI"), "+OK\r\n")
	expect(t, c.Do("PING"), "+QUEUED\r\n")
	expect(t, c.Do("SET", "c", "1"), "+QUEUED\r\n") // c lives on another master than slot 0
	expect(t, c.Do("INCR", "c"), "+QUEUED\r\n")
	expect(t, c.Do("EXEC"), "*3\r\n+PONG\r\n+OK\r\n:2\r\n")
}

// The corpus through redverb in front of the cluster gets the bytes one
// standalone Redis gives, except where Redis Cluster's rules differ by
// design: a command (not one the proxy splits) whose keys span slots gets
// Redis Cluster's -CROSSSLOT and runs nowhere; KEYS and SCAN are compared
// as sets of keys (a full SCAN iteration on each side), since the order of
// keys across masters is not one server's order.
func TestClusterCorpusMatchesRedis(t *testing.T) {
	cl := sharedCluster(t)
	cmds, shapeOnly := parseCorpus(t)
	direct := redistest.StartRedis(t)
	p := redistest.StartProxy(t, cl.URL())
	seed := cl.Nodes[0].Addr()
	for _, proto := range []string{"2", "3"} {
		t.Run("RESP"+proto, func(t *testing.T) {
			a, b := freshPair(t, direct.Addr(), p.Addr(), proto)
			crossSlot, compared := 0, 0
			for i, args := range cmds {
				line := strings.Join(args, " ")
				switch {
				case spansSlots(seed, args):
					crossSlot++
					expect(t, b.Do(args...), "-CROSSSLOT Keys in request don't hash to the same slot\r\n")
					continue
				case strings.EqualFold(args[0], "SCAN"):
					if want, got := fullScan(t, a, args), fullScan(t, b, args); !slices.Equal(want, got) {
						t.Errorf("%q: full iteration\n redis: %q\n proxy: %q", line, want, got)
					}
					continue
				}
				want, got := a.Do(args...), b.Do(args...)
				if strings.EqualFold(args[0], "KEYS") {
					want, got = sortedElems(want), sortedElems(got)
				}
				if shapeOnly[i] {
					want, got = want[:1], got[:1]
				}
				compared++
				if want != got {
					t.Errorf("%q:\n redis: %q\n proxy: %q", line, want, got)
				}
			}
			t.Logf("%d commands compared byte for byte, %d refused with CROSSSLOT as Redis Cluster does", compared, crossSlot)
		})
	}
}

// spansSlots reports whether Redis Cluster refuses args for keys in several
// slots: the keys are the cluster's own answer to COMMAND GETKEYS, and the
// commands the proxy splits never span.
func spansSlots(seed string, args []string) bool {
	switch strings.ToLower(args[0]) {
	case "mget", "mset", "del", "unlink", "exists", "touch":
		return false
	}
	reply := string(redistest.Command(seed, append([]string{"COMMAND", "GETKEYS"}, args...)...))
	slots := map[int]bool{}
	for _, line := range strings.Split(reply, "\r\n") {
		if line != "" && line[0] != '*' && line[0] != '$' && line[0] != '-' {
			slots[keyslot.Slot([]byte(line))] = true
		}
	}
	return len(slots) > 1
}

// fullScan iterates SCAN with args' options from cursor 0 to the end and
// returns the keys seen, sorted.
func fullScan(t *testing.T, c *redistest.Conn, args []string) []string {
	var keys []string
	cursor := "0"
	for {
		reply := c.Do(append([]string{"SCAN", cursor}, args[2:]...)...)
		parts := strings.SplitN(reply, "\r\n", 4)
		if len(parts) < 4 || parts[0] != "*2" {
			t.Fatalf("SCAN: %q", reply)
		}
		cursor = parts[2]
		keys = append(keys, redistest.Elems(parts[3])...)
		if cursor == "0" {
			break
		}
	}
	slices.Sort(keys)
	return keys
}

func sortedElems(raw string) string {
	e := redistest.Elems(raw)
	slices.Sort(e)
	return strings.Join(e, ",")
}

// The same corpus as one pipeline: commands for different masters are
// scattered and their replies come back in the client's order.
func TestClusterCorpusPipelinedMatchesRedis(t *testing.T) {
	cl := sharedCluster(t)
	all, shapeOnly := parseCorpus(t)
	var cmds [][]string
	var shape []bool
	for i, args := range all {
		if !spansSlots(cl.Nodes[0].Addr(), args) && !strings.EqualFold(args[0], "SCAN") {
			cmds, shape = append(cmds, args), append(shape, shapeOnly[i])
		}
	}
	direct := redistest.StartRedis(t)
	p := redistest.StartProxy(t, cl.URL())
	comparePipelined(t, cmds, shape, direct.Addr(), p.Addr())
}

// A full SCAN through the proxy visits every key of every master exactly
// once, also with COUNT and MATCH; MGET and DEL across slots answer as one
// Redis would.
func TestClusterScanVisitsEveryKeyOnce(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("FLUSHALL"), "+OK\r\n")
	const n = 3000
	for i := 0; i < n; i++ {
		c.Send("SET", fmt.Sprintf("key:%d", i), "v")
	}
	for i := 0; i < n; i++ {
		expect(t, c.Read(), "+OK\r\n")
	}
	expect(t, c.Do("DBSIZE"), fmt.Sprintf(":%d\r\n", n))
	for _, opts := range [][]string{nil, {"COUNT", "7"}, {"MATCH", "key:1*", "COUNT", "50"}} {
		seen := map[string]int{}
		for _, k := range fullScan(t, c, append([]string{"SCAN", "0"}, opts...)) {
			seen[k]++
		}
		want := 0
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("key:%d", i)
			if len(opts) > 2 && !strings.HasPrefix(k, "key:1") {
				continue
			}
			want++
			if seen[k] != 1 {
				t.Fatalf("SCAN %v saw %s %d times", opts, k, seen[k])
			}
		}
		if len(seen) != want {
			t.Fatalf("SCAN %v saw %d keys, want %d", opts, len(seen), want)
		}
	}
	expect(t, c.Do("MGET", "key:1", "nope", "key:2", "key:3"), "*4\r\n$1\r\nv\r\n$-1\r\n$1\r\nv\r\n$1\r\nv\r\n")
	expect(t, c.Do("DEL", "key:1", "nope", "key:2", "key:3"), ":3\r\n")
	expect(t, c.Do("EXISTS", "key:1", "key:4", "key:4", "key:5"), ":3\r\n")
	expect(t, c.Do("MSET", "a", "1", "b", "2", "c", "3"), "+OK\r\n")
	expect(t, c.Do("MGET", "a", "b", "c"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
	expect(t, c.Do("MSET", "a", "1", "b"), "-ERR wrong number of arguments for 'mset' command\r\n")
	expect(t, c.Do("SCAN", "notanumber"), "-ERR invalid cursor\r\n")
	expect(t, c.Do("DBSIZE"), fmt.Sprintf(":%d\r\n", n-3+3))
	expect(t, c.Do("SELECT", "1"), "-ERR SELECT is not allowed in cluster mode\r\n")
}

// Keys on every master answer as on one Redis: blocking commands wait on
// the master of their key without holding up other clients, pub/sub
// reaches subscribers whichever master the publisher's connection is on,
// shard channels live on their slot's master, and verbs run where their
// keys are (one slot per call, as Redis Cluster requires).
func TestClusterBlockingPubSubAndVerbs(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL(), redistest.WithVerbs(t, ""))
	c, blocked := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())

	// BLPOP on keys of other masters than slot 0's.
	for _, key := range []string{"a", "c", "d"} {
		blocked.Send("BLPOP", key, "5")
		time.Sleep(50 * time.Millisecond)
		expect(t, c.Do("SET", "other", "x"), "+OK\r\n") // not held up
		expect(t, c.Do("RPUSH", key, "v"), ":1\r\n")
		expect(t, blocked.Read(), "*2\r\n"+redistest.Bulk(key)+redistest.Bulk("v"))
	}

	sub, ssub := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())
	expect(t, sub.Do("SUBSCRIBE", "news"), "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n")
	expect(t, ssub.Do("SSUBSCRIBE", "orders"), "*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n")
	expect(t, c.Do("PUBLISH", "news", "hello"), ":1\r\n")
	expect(t, sub.Read(), "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n")
	expect(t, c.Do("SPUBLISH", "orders", "o1"), ":1\r\n")
	expect(t, ssub.Read(), "*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$2\r\no1\r\n")

	expect(t, c.Do("SET", "{acct}:x", "10"), "+OK\r\n")
	expect(t, c.Do("TRANSFER", "{acct}:x", "{acct}:y", "4"), ":1\r\n")
	expect(t, c.Do("MGET", "{acct}:x", "{acct}:y"), "*2\r\n$1\r\n6\r\n$1\r\n4\r\n")
	expect(t, c.Do("TRANSFER", "a", "c", "1"), "-CROSSSLOT Keys in request don't hash to the same slot\r\n")
	expect(t, c.Do("CAS", "c", "nope", "x"), ":0\r\n")

	// Functions are loaded on every master, so FCALL works for any key.
	lib := "#!lua name=lib\nredis.register_function('getit', function(keys) return redis.call('GET', keys[1]) end)"
	expect(t, c.Do("FUNCTION", "LOAD", lib), "$3\r\nlib\r\n")
	for _, key := range []string{"{a}f", "{c}f", "{d}f"} { // on each master
		expect(t, c.Do("SET", key, key+"!"), "+OK\r\n")
		expect(t, c.Do("FCALL", "getit", "1", key), redistest.Bulk(key+"!"))
	}
	expect(t, c.Do("FUNCTION", "DELETE", "lib"), "+OK\r\n")
	expect(t, c.Do("FCALL", "getit", "1", "{c}f"), "-ERR Function not found\r\n")
	expect(t, c.Do("READONLY"), "+OK\r\n")
	expect(t, c.Do("ASKING"), "+OK\r\n")

	// LOCK ... WAIT wakes on UNLOCK's release notice, published on the
	// lock key's master and carried by cluster pub/sub to the master the
	// proxy listens on.
	for _, key := range []string{"a", "c", "d"} {
		expect(t, c.Do("LOCK", key, "holder", "60000"), ":1\r\n")
		blocked.Send("LOCK", key, "waiter", "60000", "WAIT", "30000")
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		expect(t, c.Do("UNLOCK", key, "holder"), ":1\r\n")
		expect(t, blocked.Read(), ":1\r\n")
		if waited := time.Since(start); waited > 2*time.Second {
			t.Errorf("LOCK %s WAIT woke %v after UNLOCK", key, waited)
		}
	}
}

// WATCH pins the transaction to its key's master; reads of other masters'
// keys while watching go where they belong; a transaction whose keys span
// masters gets Redis Cluster's refusal and changes nothing.
func TestClusterWatchAndCrossSlotTransactions(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	c, other := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())
	expect(t, c.Do("MSET", "a", "1", "c", "2"), "+OK\r\n")
	expect(t, c.Do("WATCH", "a"), "+OK\r\n")
	expect(t, c.Do("GET", "c"), "$1\r\n2\r\n") // another master
	expect(t, c.Do("WATCH", "c"), "-CROSSSLOT Keys in request don't hash to the same slot\r\n")
	expect(t, other.Do("SET", "a", "changed"), "+OK\r\n")
	expect(t, c.Do("MULTI"), "+OK\r\n")
	expect(t, c.Do("SET", "a", "mine"), "+QUEUED\r\n")
	expect(t, c.Do("EXEC"), "*-1\r\n") // the watched key changed
	expect(t, c.Do("GET", "a"), "$7\r\nchanged\r\n")

	expect(t, c.Do("MULTI"), "+OK\r\n")
	expect(t, c.Do("SET", "a", "x"), "+QUEUED\r\n")
	expect(t, c.Do("SET", "c", "x"), "-CROSSSLOT Keys in request don't hash to the same slot\r\n")
	expect(t, c.Do("EXEC"), "-EXECABORT Transaction discarded because of previous errors.\r\n")
	expect(t, c.Do("MGET", "a", "c"), "*2\r\n$7\r\nchanged\r\n$1\r\n2\r\n")
}

// With --read-from replicas, reads go to replicas (which the proxy puts in
// READONLY mode) and writes to masters.
func TestClusterReadFromReplicas(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL(), redistest.WithBackend(func(bo *backend.BackendOptions) { bo.ReadFromReplicas = true }))
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("SET", "replicated", "v"), "+OK\r\n")
	masterGets, replicaGets := 0, 0
	calls := func() (m, r int) {
		for _, n := range cl.Nodes {
			stats := string(redistest.Command(n.Addr(), "INFO", "commandstats"))
			_, after, found := strings.Cut(stats, "cmdstat_get:calls=")
			if !found {
				continue
			}
			k, _ := strconv.Atoi(after[:strings.IndexByte(after, ',')])
			if strings.Contains(string(redistest.Command(n.Addr(), "ROLE")), "master") {
				m += k
			} else {
				r += k
			}
		}
		return m, r
	}
	masterGets, replicaGets = calls()
	deadline := time.Now().Add(5 * time.Second)
	for c.Do("GET", "replicated") != "$1\r\nv\r\n" { // until the replica has it
		if time.Now().After(deadline) {
			t.Fatal("the replica never had the key")
		}
	}
	for i := 0; i < 100; i++ {
		expect(t, c.Do("GET", "replicated"), "$1\r\nv\r\n")
	}
	m, r := calls()
	if r-replicaGets < 100 || m != masterGets {
		t.Fatalf("GETs: %d on replicas, %d on masters; want every one on a replica", r-replicaGets, m-masterGets)
	}
	expect(t, c.Do("INCR", "counter:replicas"), ":1\r\n")
}

// rediss-cluster://: every connection, the proxy's own and go-redis's
// topology ones, is TLS, verified against the servers' CA; the ports the
// cluster announces to a TLS client are its TLS ports.
func TestClusterOverTLS(t *testing.T) {
	files, err := redistest.NewTLSFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := redistest.NewCluster(3, 0, redistest.WithTLS(files))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p := redistest.StartProxy(t, cl.TLSURL(), redistest.WithVerbs(t, ""),
		redistest.WithBackend(func(bo *backend.BackendOptions) { bo.TLSConfig = files.Config }))
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("MSET", "a", "1", "c", "2", "d", "3"), "+OK\r\n")
	expect(t, c.Do("MGET", "a", "c", "d"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
	expect(t, c.Do("TRANSFER", "{x}a", "{x}b", "1"), ":0\r\n")
	expect(t, c.Do("DBSIZE"), ":3\r\n")

	// Without the CA, nothing is trusted.
	untrusted := redistest.StartProxy(t, cl.TLSURL())
	if got := redistest.Dial(t, untrusted.Addr()).Do("GET", "a"); !strings.Contains(got, "certificate") {
		t.Fatalf("a proxy that does not trust the CA got %q", got)
	}
}

// The stand-ins for Redis 8.x commands on a cluster of Redis 7 masters: each
// runs on its key's master (digest conditions across their steps too), and
// MSETEX's keys must share a slot as Redis Cluster requires.
func TestClusterEmulatedCommands(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL(), redistest.WithVerbs(t, ""))
	c := redistest.Dial(t, p.Addr())
	for _, key := range []string{"a", "c", "d"} { // one on each master
		expect(t, c.Do("SET", key, "v1"), "+OK\r\n")
		expect(t, c.Do("SET", key, "hello", "IFEQ", "v1"), "+OK\r\n")
		expect(t, c.Do("DIGEST", key), redistest.Bulk("9555e8555c62dcfd"))
		expect(t, c.Do("SET", key, "v2", "IFDEQ", "9555e8555c62dcfd", "GET"), redistest.Bulk("hello"))
		expect(t, c.Do("DELEX", key, "IFNE", "v2"), ":0\r\n")
		expect(t, c.Do("DELEX", key, "IFEQ", "v2"), ":1\r\n")
		expect(t, c.Do("HSET", key, "f", "1"), ":1\r\n")
		expect(t, c.Do("HGETDEL", key, "FIELDS", "1", "f"), "*1\r\n"+redistest.Bulk("1"))
	}
	expect(t, c.Do("MSETEX", "2", "{u}a", "1", "{u}b", "2", "EX", "100"), ":1\r\n")
	expect(t, c.Do("MGET", "{u}a", "{u}b"), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n")
	expect(t, c.Do("MSETEX", "2", "a", "1", "c", "2"), "-CROSSSLOT Keys in request don't hash to the same slot\r\n")
}
