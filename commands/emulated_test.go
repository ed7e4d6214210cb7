package commands_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zeebo/xxh3"

	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/internal/resp"
)

// The stand-ins for Redis 8.x and Valkey commands, run through redverb in
// front of the Redis on this machine (7.0 in CI, which has none of them),
// against the replies the commands' documentation gives.

func digestOf(s string) string {
	known := map[string]string{ // from redis.io's DIGEST page and real servers
		"Hello world": "b6acb9d84a38ff74",
		"hello":       "9555e8555c62dcfd",
		"test":        "9ec9f7918d7dfc40",
	}
	return known[s]
}

func TestSetConditions(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	run(t, c, []step{
		// IFEQ: only an equal current value; a missing key is not created.
		{"SET k v IFEQ x", nilBulk},
		{"EXISTS k", zero},
		{"SET k a", ok},
		{"SET k b IFEQ x", nilBulk},
		{"SET k b IFEQ a", ok},
		{"GET k", bulk("b")},
		{"set k c ifeq b", ok}, // options in any case
		// IFNE: a different value, or a missing key (created).
		{"SET k d IFNE c", nilBulk},
		{"SET k d IFNE x", ok},
		{"SET new v IFNE x", ok},
		{"GET new", bulk("v")},
		// GET: the old value whatever the condition's outcome.
		{"SET k e IFEQ nope GET", bulk("d")},
		{"GET k", bulk("d")},
		{"SET k e IFEQ d GET", bulk("d")},
		{"GET k", bulk("e")},
		{"SET missing v IFEQ x GET", nilBulk},
		{"SET missing2 v IFNE x GET", nilBulk},
		{"GET missing2", bulk("v")},
		// Expiry options with a condition; plain SET semantics for the TTL.
		{"SET k f IFEQ e GET EX 10", bulk("e")},
		{"TTL k", ":10\r\n"},
		{"SET k g IFEQ f KEEPTTL", ok},
		{"TTL k", ":10\r\n"},
		{"SET k h IFEQ g", ok},
		{"TTL k", ":-1\r\n"},
		{"SET k i PX 50000 IFNE x", ok},
		{"PTTL k", "~:"},
		{"SET k j IFEQ i EXAT 4102444800", ok},
		{"EXPIRETIME k", ":4102444800\r\n"},
		{"SET k l IFEQ j PXAT 4102444800000", ok},
		{"PEXPIRETIME k", ":4102444800000\r\n"},
		{"SET k m IFEQ nope EX 10", nilBulk},
		{"GET k", bulk("l")},
		// Wrong type: an error whenever the value must be read.
		{"HSET h f v", one},
		{"SET h v IFEQ x", wrongType},
		{"SET h v IFNE x", wrongType},
		{"SET h v IFNE x GET", wrongType},
		{"TYPE h", "+hash\r\n"},
		// Conflicts and malformed options.
		{"SET k v NX IFEQ x", syntax},
		{"SET k v IFEQ x XX", syntax},
		{"SET k v IFEQ x IFNE y", syntax},
		{"SET k v IFEQ", syntax},
		{"SET k v IFEQ x EX 10 PX 10", syntax},
		{"SET k v IFEQ x EX 10 KEEPTTL", syntax},
		{"SET k v IFEQ x BOGUS", syntax},
		{"SET k v IFEQ x EX 0", "-ERR invalid expire time in 'set' command\r\n"},
		{"SET k v IFEQ x EX -1", "-ERR invalid expire time in 'set' command\r\n"},
		{"SET k v IFEQ x EX 9223372036854775807", "-ERR invalid expire time in 'set' command\r\n"},
		{"SET k v IFEQ x PX 9223372036854775807", "-ERR invalid expire time in 'set' command\r\n"},
		{"SET k v IFEQ x EX ten", notInt},
		{"SET k v IFDEQ abc", "-ERR must be exactly 16 hexadecimal characters\r\n"},
		{"SET k v IFDEQ zzzzzzzzzzzzzzzz", "-ERR must be exactly 16 hexadecimal characters\r\n"},
		{"GET k", bulk("l")}, // nothing above changed it
		// Repeating an option is allowed; the last one counts.
		{"SET k n IFEQ x IFEQ l", ok},
		{"SET k o IFEQ n EX 5 EX 100", ok},
		{"TTL k", ":100\r\n"},
		// Plain SET, NX and XX still reach the backend's own SET.
		{"SET k p NX GET", bulk("o")},
		{"SET k p XX", ok},
	})
}

func TestDigestConditions(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	do := func(want string, args ...string) {
		t.Helper()
		if got := c.Do(args...); got != want {
			t.Errorf("%q:\n got %q\nwant %q", args, got, want)
		}
	}
	do(nilBulk, "DIGEST", "k")
	for _, v := range []string{"Hello world", "hello", "test"} {
		do(ok, "SET", "k", v)
		do(bulk(digestOf(v)), "DIGEST", "k")
	}
	do(ok, "SET", "n", "12345") // an integer-encoded string hashes as its text
	do(bulk(fmt.Sprintf("%016x", xxh3.HashString("12345"))), "DIGEST", "n")
	do(one, "HSET", "h", "f", "v")
	do(wrongType, "DIGEST", "h")
	do("-ERR wrong number of arguments for 'digest' command\r\n", "DIGEST", "a", "b")

	do(ok, "SET", "k", "Hello world")
	do(nilBulk, "SET", "k", "x", "IFDEQ", digestOf("hello"))
	do(ok, "SET", "k", "hello", "IFDEQ", digestOf("Hello world"))
	do(ok, "SET", "k", "test", "IFDEQ", strings.ToUpper(digestOf("hello"))) // either case
	do(bulk("test"), "SET", "k", "x", "IFDNE", digestOf("test"), "GET")
	do(bulk("test"), "SET", "k", "Hello world", "IFDNE", digestOf("hello"), "GET", "EX", "100")
	do(":100\r\n", "TTL", "k")
	do(nilBulk, "SET", "gone", "v", "IFDEQ", digestOf("hello"))
	do(ok, "SET", "gone", "v", "IFDNE", digestOf("hello")) // created
	do(wrongType, "SET", "h", "v", "IFDEQ", digestOf("hello"))
	do(wrongType, "SET", "h", "v", "IFDNE", digestOf("hello"), "GET")

	// Pipelined in one write: the command after a digest condition sees
	// its effect.
	var batch []byte
	for _, args := range [][]string{{"SET", "p", "hello"}, {"SET", "p", "test", "IFDEQ", digestOf("hello")}, {"GET", "p"}, {"DELEX", "p", "IFDEQ", digestOf("test")}, {"EXISTS", "p"}} {
		var raw [][]byte
		for _, a := range args {
			raw = append(raw, []byte(a))
		}
		batch = resp.AppendCommand(batch, raw...)
	}
	c.Write(batch)
	for i, want := range []string{ok, ok, bulk("test"), one, zero} {
		if got := c.Read(); got != want {
			t.Errorf("pipelined reply %d: got %q, want %q", i, got, want)
		}
	}

	// DELEX: DEL of one key without a condition, else a string's.
	do(zero, "DELEX", "nokey")
	do(one, "DELEX", "h")
	do(ok, "SET", "k", "hello")
	do(zero, "DELEX", "k", "IFEQ", "x")
	do(zero, "DELEX", "k", "IFNE", "hello")
	do(zero, "DELEX", "k", "IFDEQ", digestOf("test"))
	do(zero, "DELEX", "k", "IFDNE", digestOf("hello"))
	do(one, "DELEX", "k", "IFDEQ", digestOf("hello"))
	do(ok, "SET", "k", "hello")
	do(one, "DELEX", "k", "IFDNE", digestOf("test"))
	do(ok, "SET", "k", "hello")
	do(one, "DELEX", "k", "IFNE", "x")
	do(ok, "SET", "k", "hello")
	do(one, "delex", "k", "ifeq", "hello")
	do(zero, "DELEX", "k", "IFEQ", "hello") // missing: ignored
	do(zero, "DELEX", "k", "IFNE", "hello")
	do(one, "HSET", "h", "f", "v")
	do(wrongType, "DELEX", "h", "IFEQ", "v")
	do(wrongType, "DELEX", "h", "IFDNE", digestOf("hello"))
	do(syntax, "DELEX", "h", "IFEQ")
	do(syntax, "DELEX", "h", "IFGT", "1")
	do(syntax, "DELEX", "h", "IFEQ", "a", "b")
	do("-ERR must be exactly 16 hexadecimal characters\r\n", "DELEX", "h", "IFDEQ", "123")
	do("-ERR wrong number of arguments for 'delex' command\r\n", "DELEX")

	// Valkey's DELIFEQ.
	do(ok, "SET", "k", "v")
	do(zero, "DELIFEQ", "k", "x")
	do(one, "DELIFEQ", "k", "v")
	do(zero, "DELIFEQ", "k", "v")
	do(wrongType, "DELIFEQ", "h", "v")
	do("-ERR wrong number of arguments for 'delifeq' command\r\n", "DELIFEQ", "k")
}

func TestMSetExAndHGetDel(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	run(t, c, []step{
		{"MSETEX 2 a 1 b 2", one},
		{"MGET a b", "*2\r\n" + bulk("1") + bulk("2")},
		{"TTL a", ":-1\r\n"},
		{"MSETEX 2 a 3 b 4 EX 100", one},
		{"TTL b", ":100\r\n"},
		{"MSETEX 2 a 5 c 6 NX", zero}, // a exists: nothing is set
		{"EXISTS c", zero},
		{"MSETEX 2 a 5 c 6 XX", zero}, // c is missing
		{"GET a", bulk("3")},
		{"MSETEX 2 a 5 b 6 XX KEEPTTL", one},
		{"TTL b", ":100\r\n"},
		{"MSETEX 1 c 7 ex 50 nx", one}, // options in any order and case
		{"TTL c", ":50\r\n"},
		{"MSETEX 1 d 8 PXAT 4102444800000", one},
		{"PEXPIRETIME d", ":4102444800000\r\n"},
		{"HSET h f v", one},
		{"MSETEX 1 h s", one}, // overwrites any type, as MSET
		{"TYPE h", "+string\r\n"},
		{"MSETEX 0 a 1", "-ERR invalid numkeys value\r\n"},
		{"MSETEX x a 1", "-ERR invalid numkeys value\r\n"},
		{"MSETEX 2 a 1 b", "-ERR wrong number of key-value pairs\r\n"},
		{"MSETEX 5 a 1 b", "-ERR wrong number of key-value pairs\r\n"},
		{"MSETEX 1 a 1 NX XX", syntax},
		{"MSETEX 1 a 1 EX 10 PX 10", syntax},
		{"MSETEX 1 a 1 GET", syntax},
		{"MSETEX 1 a 1 EX 0", "-ERR invalid expire time in 'msetex' command\r\n"},
		{"MSETEX 1 a", arity("msetex")},

		{"HSET hh a 1 b 2 c 3", ":3\r\n"},
		{"HGETDEL hh FIELDS 2 a x", "*2\r\n" + bulk("1") + nilBulk},
		{"HGETALL hh", "*4\r\n" + bulk("b") + bulk("2") + bulk("c") + bulk("3")},
		{"hgetdel hh fields 2 b c", "*2\r\n" + bulk("2") + bulk("3")},
		{"EXISTS hh", zero}, // the last field took the key with it
		{"HGETDEL hh FIELDS 1 a", "*1\r\n" + nilBulk},
		{"HSET hh a 1 b 2", ":2\r\n"},
		{"HGETDEL hh FIELDS 2 a a", "*2\r\n" + bulk("1") + nilBulk},
		{"HGETALL hh", "*2\r\n" + bulk("b") + bulk("2")},
		{"SET s v", ok},
		{"HGETDEL s FIELDS 1 a", wrongType},
		{"HGETDEL hh FIELD 1 a", "-ERR Mandatory argument FIELDS is missing or not at the right position\r\n"},
		{"HGETDEL hh FIELDS 0 a", "-ERR Number of fields must be a positive integer\r\n"},
		{"HGETDEL hh FIELDS 2 a", "-ERR The `numfields` parameter must match the number of arguments\r\n"},
		{"HGETDEL hh FIELDS 1", arity("hgetdel")},
	})
}

// TestEmulatedRESP3: nulls and arrays in a RESP3 client's protocol.
func TestEmulatedRESP3(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	c.Do("HELLO", "3")
	run(t, c, []step{
		{"SET k v IFEQ x", "_\r\n"},
		{"SET k v IFDEQ 9555e8555c62dcfd", "_\r\n"},
		{"DIGEST k", "_\r\n"},
		{"HGETDEL k FIELDS 1 f", "*1\r\n_\r\n"},
		{"SET k hello", ok},
		{"SET k v IFDEQ 0000000000000000 GET", bulk("hello")},
		{"SET k v IFDEQ 0000000000000000", "_\r\n"},
	})
}

// TestEmulatedInsideMulti: single-script stand-ins queue and run in EXEC;
// digest conditions, which take steps, are refused there.
func TestEmulatedInsideMulti(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	run(t, c, []step{
		{"SET k hello", ok},
		{"MULTI", ok},
		{"SET k test IFEQ hello", "+QUEUED\r\n"},
		{"DIGEST k", "+QUEUED\r\n"},
		{"DELEX k IFEQ test", "+QUEUED\r\n"},
		{"EXEC", "*3\r\n" + ok + bulk(digestOf("test")) + one},
	})
	c.Do("SET", "k", "hello")
	c.Do("MULTI")
	if got := c.Do("SET", "k", "v", "IFDEQ", digestOf("hello")); !strings.HasPrefix(got, "-ERR redverb emulates this command in steps") {
		t.Errorf("IFDEQ in MULTI: %q", got)
	}
	if got := c.Do("EXEC"); got != "-EXECABORT Transaction discarded because of previous errors.\r\n" {
		t.Errorf("EXEC after a refused command: %q", got)
	}
}

// TestDigestConditionsOnOwnConnection: while WATCH or CLIENT TRACKING
// holds the client's own backend connection, a digest condition runs its
// steps there, in order with the client's other commands.
func TestDigestConditionsOnOwnConnection(t *testing.T) {
	_, p := start(t)
	c := redistest.Dial(t, p.Addr())
	run(t, c, []step{
		{"SET k hello", ok},
		{"WATCH k", ok},
		{"SET k test IFDEQ " + digestOf("hello") + " GET", bulk("hello")},
		{"SET k x IFDNE " + digestOf("test"), nilBulk},
		{"DELEX k IFDNE " + digestOf("hello"), one},
		{"MULTI", ok},
		{"SET other v", "+QUEUED\r\n"},
		{"EXEC", "*-1\r\n"}, // the watched key changed (by this client, as with Redis)
	})
	t3 := redistest.Dial(t, p.Addr())
	t3.Do("HELLO", "3")
	run(t, t3, []step{
		{"CLIENT TRACKING ON", ok},
		{"SET k hello", ok},
		{"GET k", bulk("hello")},
		{"SET k test IFDEQ " + digestOf("hello"), ok},
	})
	if got := t3.Read(); got != ">2\r\n$10\r\ninvalidate\r\n*1\r\n"+bulk("k") {
		t.Errorf("after a tracked key changed: %q, want its invalidation", got)
	}
	run(t, t3, []step{{"SET k x IFDEQ " + digestOf("hello"), "_\r\n"}})
}

// TestSetIfEqOneWinner: many clients race to move one key from the value
// they all read to a value of their own, with SET ... IFEQ (one script) and
// SET ... IFDEQ (read, hash in the proxy, compare-and-set): in every round
// exactly one of them wins.
func TestSetIfEqOneWinner(t *testing.T) {
	_, p := start(t)
	const clients, rounds = 12, 150
	for _, cond := range []string{"IFEQ", "IFDEQ"} {
		t.Run(cond, func(t *testing.T) {
			redistest.Dial(t, p.Addr()).Do("SET", "race", "0:start")
			var wins [rounds + 1]atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func(me int) {
					defer wg.Done()
					c := redistest.Dial(t, p.Addr())
					for {
						cur := strings.Split(c.Do("GET", "race"), "\r\n")[1]
						var round int
						fmt.Sscanf(cur, "%d:", &round)
						if round >= rounds {
							return
						}
						comparand := cur
						if cond == "IFDEQ" {
							comparand = fmt.Sprintf("%016x", xxh3.HashString(cur))
						}
						reply := c.Do("SET", "race", fmt.Sprintf("%d:%d", round+1, me), cond, comparand)
						switch reply {
						case ok:
							wins[round].Add(1)
						case nilBulk:
						default:
							t.Errorf("SET ... %s: %q", cond, reply)
							return
						}
					}
				}(i)
			}
			wg.Wait()
			for r := 0; r < rounds; r++ {
				if n := wins[r].Load(); n != 1 {
					t.Errorf("round %d: %d winners", r, n)
				}
			}
		})
	}
}

// TestNativeCommandsGoToTheBackend: a stand-in for a command the backend
// has (a user verb declaring "emulates: GETDEL", which Redis 7 has) never
// runs; calls reach the backend's own command untouched, and COMMAND shows
// the backend's entry. SET without a condition is SET's own.
func TestNativeCommandsGoToTheBackend(t *testing.T) {
	dir := t.TempDir()
	writeVerb(t, dir, "getdel.lua", "-- verb: GETDEL\n-- emulates: GETDEL\n-- keys: 1\nreturn 'stand-in'\n")
	writeVerb(t, dir, "getex.lua", "-- verb: GETEX\n-- emulates: GETEX PERSIST\n-- keys: 1\nreturn 'stand-in'\n")
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, dir))
	c := redistest.Dial(t, p.Addr())
	direct := redistest.Dial(t, r.Addr())
	run(t, c, []step{
		{"SET k v", ok},
		{"SET k v2 NX", nilBulk},
		{"GETEX k PERSIST", bulk("v")},
		{"GETDEL k", bulk("v")},
	})
	stats := direct.Do("INFO", "commandstats")
	for _, cmd := range []string{"cmdstat_set:calls=2", "cmdstat_getex:calls=1", "cmdstat_getdel:calls=1"} {
		if !strings.Contains(stats, cmd) {
			t.Errorf("backend's commandstats lack %s:\n%s", cmd, stats)
		}
	}
	if strings.Contains(stats, "cmdstat_evalsha") || strings.Contains(stats, "cmdstat_fcall") {
		t.Errorf("a script ran:\n%s", stats)
	}
	if got, want := c.Do("COMMAND", "DOCS", "getdel"), direct.Do("COMMAND", "DOCS", "getdel"); got != want {
		t.Errorf("COMMAND DOCS getdel:\n got %q\nwant %q", got, want)
	}
	if docs := c.Do("COMMAND", "DOCS", "set"); !strings.Contains(docs, bulk("token")+bulk("IFDEQ")) {
		t.Errorf("COMMAND DOCS set lacks Redis 8.4's IFDEQ: %q", docs)
	}
}

func writeVerb(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}
