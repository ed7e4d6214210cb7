package proxy_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/internal/resp"
)

// A cluster behind redverb looks like one server: settings reach every
// master, INFO counts what all of them hold, and introspection of a key
// asks the master that has it.
func TestClusterLooksLikeOneServer(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	c := redistest.Dial(t, p.Addr())
	keys := keyPerMaster(cl, "k")

	expect(t, c.Do("CONFIG", "RESETSTAT"), "+OK\r\n") // the shared cluster has served other tests
	expect(t, c.Do("CONFIG", "SET", "zset-max-listpack-entries", "1"), "+OK\r\n")
	defer c.Do("CONFIG", "SET", "zset-max-listpack-entries", "128")
	for _, n := range cl.Nodes { // masters and replicas
		if got := string(redistest.Command(n.Addr(), "CONFIG", "GET", "zset-max-listpack-entries")); !strings.Contains(got, "$1\r\n1\r\n") {
			t.Errorf("CONFIG SET did not reach %s: %q", n.Addr(), got)
		}
	}
	for _, k := range keys {
		expect(t, c.Do("ZADD", k, "1", "a", "2", "b"), ":2\r\n")
		expect(t, c.Do("OBJECT", "ENCODING", k), redistest.Bulk("skiplist"))
		if got := c.Do("DEBUG", "OBJECT", k); !strings.Contains(got, "encoding:skiplist") {
			t.Errorf("DEBUG OBJECT %s: %q", k, got)
		}
	}

	info := func(section string) string { return c.Do("INFO", section) }
	if got := info("keyspace"); !strings.Contains(got, fmt.Sprintf("db0:keys=%d,", len(keys))) {
		t.Errorf("INFO keyspace does not count every master's keys: %q", got)
	}
	if got := info("commandstats"); !regexp.MustCompile(fmt.Sprintf(`cmdstat_zadd:calls=%d,`, len(keys))).MatchString(got) {
		t.Errorf("INFO commandstats does not add up the masters': %q", got)
	}

	if got := c.Do("LATENCY", "HISTOGRAM", "zadd", "config|resetstat"); !strings.Contains(got, fmt.Sprintf("$4\r\nzadd\r\n*4\r\n$5\r\ncalls\r\n:%d\r\n", len(keys))) ||
		!strings.Contains(got, "$16\r\nconfig|resetstat\r\n*4\r\n$5\r\ncalls\r\n:1\r\n") {
		t.Errorf("LATENCY HISTOGRAM does not count as one server: %q", got)
	}

	// A client blocked on a key of another master counts as blocked.
	blocked := redistest.Dial(t, p.Addr())
	blocked.Send("BLPOP", "q"+keys[len(keys)-1], "0")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(info("clients"), "blocked_clients:1\r\n"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("INFO clients never counted the blocked client: %q", info("clients"))
		}
	}
	c.Do("RPUSH", "q"+keys[len(keys)-1], "x")
	blocked.Read()

	expect(t, c.Do("CONFIG", "SET", "slowlog-log-slower-than", "0"), "+OK\r\n")
	defer c.Do("CONFIG", "SET", "slowlog-log-slower-than", "10000")
	expect(t, c.Do("SLOWLOG", "RESET"), "+OK\r\n")
	for _, k := range keys {
		c.Do("GET", k+"-slow")
	}
	if got := c.Do("SLOWLOG", "GET", "100"); strings.Count(got, "-slow") != len(keys) {
		t.Errorf("SLOWLOG GET does not list every master's entries: %q", got)
	}
	expect(t, c.Do("SLOWLOG", "RESET"), "+OK\r\n")
	if got := c.Do("SLOWLOG", "GET", "100"); strings.Contains(got, "-slow") || strings.Count(got, "$5\r\nRESET\r\n") != 1 {
		// one server logs its SLOWLOG RESET once; each master did
		t.Errorf("SLOWLOG after RESET: %q", got)
	}
	// What any master logged after the RESET is newer than the RESET,
	// though the entries have one-second times.
	for _, k := range keys {
		expect(t, c.Do("SLOWLOG", "RESET"), "+OK\r\n")
		c.Do("GET", k+"-newest")
		if got := c.Do("SLOWLOG", "GET", "1"); !strings.Contains(got, k+"-newest") {
			t.Errorf("the newest entry is not the GET after RESET: %q", got)
		}
	}
	// One server keeps slowlog-max-len entries.
	expect(t, c.Do("CONFIG", "SET", "slowlog-max-len", "2"), "+OK\r\n")
	defer c.Do("CONFIG", "SET", "slowlog-max-len", "128")
	expect(t, c.Do("SLOWLOG", "RESET"), "+OK\r\n")
	for _, k := range keys {
		c.Do("GET", k)
	}
	expect(t, c.Do("SLOWLOG", "LEN"), ":2\r\n")
	if got := resp.SplitArray([]byte(c.Do("SLOWLOG", "GET", "-1"))); len(got) != 2 {
		t.Errorf("SLOWLOG GET -1 with slowlog-max-len 2: %d entries", len(got))
	}
}

// keyPerMaster returns names prefix<n>, the i-th living on the i-th master.
func keyPerMaster(cl *redistest.Cluster, prefix string) []string {
	masters := cl.Masters()
	keys := make([]string, len(masters))
	for i, m := range masters {
		for n := 0; keys[i] == ""; n++ {
			if k := fmt.Sprintf("%s%d", prefix, n); cl.Owner(keyslot.Slot([]byte(k))) == m.Addr() {
				keys[i] = k
			}
		}
	}
	return keys
}

// A script that declares no keys but names one in its body runs where one
// Redis would run it: on the master holding that key, exactly once.
func TestClusterScriptsReachUndeclaredKeys(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	c := redistest.Dial(t, p.Addr())
	keys := keyPerMaster(cl, "undeclared")
	expect(t, c.Do("FUNCTION", "LOAD", "REPLACE", "#!lua name=undeclared\n"+
		"redis.register_function{function_name='undeclared_get', callback=function(keys, args) return redis.call('get', args[1]) end, flags={'no-writes'}}"), redistest.Bulk("undeclared"))
	defer c.Do("FUNCTION", "DELETE", "undeclared")
	for _, k := range keys {
		c.Do("DEL", k)
		incr := "return redis.call('incr', '" + k + "')"
		expect(t, c.Do("EVAL", incr, "0"), ":1\r\n")
		expect(t, c.Do("GET", k), redistest.Bulk("1"))
		sha := strings.TrimSpace(strings.Split(c.Do("SCRIPT", "LOAD", incr), "\r\n")[1])
		expect(t, c.Do("EVALSHA", sha, "0"), ":2\r\n")
		expect(t, c.Do("FCALL_RO", "undeclared_get", "0", k), redistest.Bulk("2"))
	}
	// Keys on two masters: Redis Cluster's own refusal, and nothing written.
	both := "redis.call('set', '" + keys[0] + "', 'x'); return redis.call('set', '" + keys[1] + "', 'x')"
	if got := c.Do("EVAL", both, "0"); !strings.HasPrefix(got, "-ERR Script attempted to access a non local key") {
		t.Errorf("a script over two masters answered %q", got)
	}
	expect(t, c.Do("GET", keys[1]), redistest.Bulk("2"))
	// A SHA nobody cached is NOSCRIPT, as on Redis.
	if got := c.Do("EVALSHA", strings.Repeat("ab", 20), "0"); !strings.HasPrefix(got, "-NOSCRIPT") {
		t.Errorf("unknown SHA: %q", got)
	}
}

// MONITOR and keyspace notifications show every master's keys, as one
// server shows all of its own; an ordinary message still arrives once.
func TestClusterMonitorAndKeyspaceEventsCoverEveryMaster(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	c := redistest.Dial(t, p.Addr())
	keys := keyPerMaster(cl, "everywhere")
	expect(t, c.Do("CONFIG", "SET", "notify-keyspace-events", "KA"), "+OK\r\n")
	defer c.Do("CONFIG", "SET", "notify-keyspace-events", "")

	mon := redistest.Dial(t, p.Addr())
	expect(t, mon.Do("MONITOR"), "+OK\r\n")
	events := redistest.Dial(t, p.Addr())
	expect(t, events.Do("PSUBSCRIBE", "*"), "*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n")
	chans := redistest.Dial(t, p.Addr())
	expect(t, chans.Do("SUBSCRIBE", "__keyspace@0__:"+keys[len(keys)-1]), "*3\r\n$9\r\nsubscribe\r\n$"+
		fmt.Sprint(len("__keyspace@0__:"+keys[len(keys)-1]))+"\r\n__keyspace@0__:"+keys[len(keys)-1]+"\r\n:1\r\n")

	for _, k := range keys {
		expect(t, c.Do("SET", k, "v"), "+OK\r\n")
	}
	expect(t, c.Do("PUBLISH", "news", "hi"), ":1\r\n") // events' pattern; not a keyspace channel
	// Each command once, though (P)SUBSCRIBE went to every master.
	lines := map[string]int{}
	for range len(keys) + 3 {
		line := mon.Read()
		lines[line[strings.Index(line, "] ")+2:]]++
	}
	want := map[string]int{"\"PSUBSCRIBE\" \"*\"\r\n": 1, "\"SUBSCRIBE\" \"__keyspace@0__:" + keys[len(keys)-1] + "\"\r\n": 1, "\"PUBLISH\" \"news\" \"hi\"\r\n": 1}
	for _, k := range keys {
		want["\"SET\" \""+k+"\" \"v\"\r\n"] = 1
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("MONITOR showed %v, want %v", lines, want)
	}
	if extra, err := mon.ReadErr(200 * time.Millisecond); err == nil {
		t.Errorf("MONITOR showed more: %q", extra)
	}
	// Masters stream on their own connections: in any order, each once.
	got := map[string]int{}
	for range len(keys) + 1 {
		got[events.Read()]++
	}
	want = map[string]int{"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$4\r\nnews\r\n$2\r\nhi\r\n": 1}
	for _, k := range keys {
		want["*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$"+fmt.Sprint(len("__keyspace@0__:"+k))+"\r\n__keyspace@0__:"+k+"\r\n$3\r\nset\r\n"] = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PSUBSCRIBE * got %v, want %v", got, want)
	}
	if extra, err := events.ReadErr(200 * time.Millisecond); err == nil {
		t.Errorf("a message arrived twice, or an event the pattern does not ask for: %q", extra)
	}
	if got := chans.Read(); !strings.Contains(got, "__keyspace@0__:"+keys[len(keys)-1]) {
		t.Errorf("SUBSCRIBE to a key's keyspace channel: %q", got)
	}
}

// A user made through redverb exists on every server, so a client logged
// in as it reaches keys on every master, as on one server.
func TestClusterACLUsersOnEveryServer(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	admin := redistest.Dial(t, p.Addr())
	expect(t, admin.Do("ACL", "SETUSER", "everywhere", "on", ">pw", "~*", "+@all"), "+OK\r\n")
	defer admin.Do("ACL", "DELUSER", "everywhere")
	for _, n := range cl.Nodes {
		if got := string(redistest.Command(n.Addr(), "ACL", "USERS")); !strings.Contains(got, "everywhere") {
			t.Errorf("ACL SETUSER did not reach %s: %q", n.Addr(), got)
		}
	}
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("AUTH", "everywhere", "pw"), "+OK\r\n")
	for _, k := range keyPerMaster(cl, "acl") {
		expect(t, c.Do("SET", k, "v"), "+OK\r\n")
	}
	expect(t, admin.Do("ACL", "DELUSER", "everywhere"), ":1\r\n")
	for _, n := range cl.Nodes {
		if got := string(redistest.Command(n.Addr(), "ACL", "USERS")); strings.Contains(got, "everywhere") {
			t.Errorf("ACL DELUSER did not reach %s: %q", n.Addr(), got)
		}
	}
}

// CONFIG SET of every setting to the value CONFIG GET gives (Redis's
// "CONFIG sanity") works: settings that name one server, such as its port,
// go to the master CONFIG GET reads from.
func TestClusterConfigSetOfOneServersPort(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	c := redistest.Dial(t, p.Addr())
	f := resp.SplitArray([]byte(c.Do("CONFIG", "GET", "port")))
	if len(f) != 2 {
		t.Fatalf("CONFIG GET port: %q", f)
	}
	port, _ := resp.BulkValue(f[1])
	expect(t, c.Do("CONFIG", "SET", "port", string(port)), "+OK\r\n")
	expect(t, c.Do("CONFIG", "SET", "maxmemory-samples", "5", "port", string(port)), "+OK\r\n")
}

// CLIENT TRACKING in front of a cluster: every master tracks the keys a
// client reads there and invalidates them, to a REDIRECT client or as
// RESP3 pushes, as one server does for all of its keys.
func TestClusterTracking(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	keys := keyPerMaster(cl, "tracked")
	writer := redistest.Dial(t, p.Addr())
	for _, k := range keys {
		expect(t, writer.Do("SET", k, "1"), "+OK\r\n")
	}
	invalidated := func(c *redistest.Conn, want []string, push bool) {
		t.Helper()
		got := map[string]bool{}
		for range want {
			frame := c.Read()
			if push != strings.HasPrefix(frame, ">") || !strings.Contains(frame, "invalidate") {
				t.Fatalf("not an invalidation: %q", frame)
			}
			f := resp.SplitArray([]byte(frame))
			for _, k := range resp.SplitArray(f[len(f)-1]) {
				v, _ := resp.BulkValue(k)
				got[string(v)] = true
			}
		}
		for _, k := range want {
			if !got[k] {
				t.Errorf("no invalidation of %s (got %v)", k, got)
			}
		}
		if extra, err := c.ReadErr(200 * time.Millisecond); err == nil {
			t.Errorf("an invalidation nobody asked for: %q", extra)
		}
	}

	// RESP2, REDIRECT to a subscribed client.
	redir := redistest.Dial(t, p.Addr())
	id := strings.TrimSpace(strings.TrimPrefix(redir.Do("CLIENT", "ID"), ":"))
	expect(t, redir.Do("SUBSCRIBE", "__redis__:invalidate"), "*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n")
	tracker := redistest.Dial(t, p.Addr())
	expect(t, tracker.Do("CLIENT", "TRACKING", "on", "REDIRECT", id), "+OK\r\n")
	for _, k := range keys {
		expect(t, tracker.Do("GET", k), redistest.Bulk("1"))
	}
	if got := tracker.Do("INFO", "stats"); !strings.Contains(got, fmt.Sprintf("tracking_total_keys:%d\r\n", len(keys))) {
		t.Errorf("INFO from a tracking client does not count every master's tracked keys: %q", got)
	}
	for _, k := range keys {
		expect(t, writer.Do("SET", k, "2"), "+OK\r\n")
	}
	invalidated(redir, keys, false)
	expect(t, tracker.Do("CLIENT", "GETREDIR"), ":"+id+"\r\n")

	// RESP3 pushes, and OPTIN: CLIENT CACHING yes tracks the next read,
	// wherever its key lives.
	r3 := redistest.Dial(t, p.Addr())
	if got := r3.Do("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", got)
	}
	expect(t, r3.Do("CLIENT", "TRACKING", "on", "OPTIN"), "+OK\r\n")
	for _, k := range keys {
		expect(t, r3.Do("GET", k), redistest.Bulk("2")) // not cached: not tracked
	}
	last := keys[len(keys)-1]
	expect(t, r3.Do("GET", keys[0]), redistest.Bulk("2")) // on another master than last
	expect(t, r3.Do("CLIENT", "CACHING", "yes"), "+OK\r\n")
	expect(t, r3.Do("GET", last), redistest.Bulk("2"))
	for _, k := range keys {
		expect(t, writer.Do("SET", k, "3"), "+OK\r\n")
	}
	invalidated(r3, []string{last}, true)

	// BCAST: every master reports changes to keys under the prefix, read
	// or not.
	bcast := redistest.Dial(t, p.Addr())
	bcast.Do("HELLO", "3")
	expect(t, bcast.Do("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "tracked"), "+OK\r\n")
	for _, k := range keys {
		expect(t, writer.Do("SET", k, "3"), "+OK\r\n")
	}
	invalidated(bcast, keys, true)

	// Off: no more invalidations, and the connections go.
	expect(t, tracker.Do("CLIENT", "TRACKING", "off"), "+OK\r\n")
	for _, k := range keys {
		tracker.Do("GET", k)
		expect(t, writer.Do("SET", k, "4"), "+OK\r\n")
	}
	invalidated(redir, nil, false)
}
