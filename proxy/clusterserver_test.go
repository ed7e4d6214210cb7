package proxy_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/redistest"
)

// A cluster behind redverb looks like one server: settings reach every
// master, INFO counts what all of them hold, and introspection of a key
// asks the master that has it.
func TestClusterLooksLikeOneServer(t *testing.T) {
	cl := sharedCluster(t)
	masters := cl.Masters()
	p := redistest.StartProxy(t, cl.URL())
	c := redistest.Dial(t, p.Addr())
	// keys[i] lives on masters[i]
	keys := make([]string, len(masters))
	for i, m := range masters {
		for n := 0; keys[i] == ""; n++ {
			if k := fmt.Sprintf("k%d", n); cl.Owner(keyslot.Slot([]byte(k))) == m.Addr() {
				keys[i] = k
			}
		}
	}

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
}
