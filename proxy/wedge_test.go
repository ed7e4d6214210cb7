package proxy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/redistest"
)

// busyRedis starts a backend that declares a script busy after 100ms
// instead of 5s, so runaway-script scenarios run quickly.
func busyRedis(t *testing.T, args ...string) *redistest.Redis {
	return redistest.StartRedis(t, append([]string{"--lua-time-limit", "100"}, args...)...)
}

// kill sends SCRIPT KILL (or FUNCTION KILL) until the backend has a script
// to kill, and returns the reply.
func killScript(t *testing.T, addr string, cmd ...string) string {
	t.Helper()
	c := redistest.Dial(t, addr)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.Do(cmd...)
		if !strings.HasPrefix(got, "-NOTBUSY") || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A runaway script runs on a connection of its own. SCRIPT KILL reaches
// the backend, and afterwards every client works again. Other clients'
// commands meanwhile get what Redis gives them directly: -BUSY once the
// script passes the busy threshold.
func TestRunawayScriptCanBeKilled(t *testing.T) {
	r := busyRedis(t)
	p := redistest.StartProxy(t, r.URL())
	runaway := redistest.Dial(t, p.Addr())
	// Warm up first (the command table, the shared connection, a pooled
	// one for scripts), so that the runaway script is surely running on
	// Redis when the other client's INCR arrives 50ms later.
	waiting := redistest.Dial(t, p.Addr())
	expect(t, waiting.Do("GET", "n"), "$-1\r\n")
	expect(t, runaway.Do("EVAL", "return 1", "0"), ":1\r\n")
	runaway.Send("EVAL", "while true do end", "0")
	time.Sleep(50 * time.Millisecond)
	waiting.Send("INCR", "n")
	time.Sleep(1200 * time.Millisecond)
	if got := redistest.Dial(t, p.Addr()).Do("GET", "n"); !strings.HasPrefix(got, "-BUSY") {
		t.Errorf("a client arriving during the runaway script got %q, want Redis's -BUSY", got)
	}
	if got := waiting.Read(); !strings.HasPrefix(got, "-BUSY") {
		t.Errorf("a client that sent its command during the runaway script got %q, want Redis's -BUSY", got)
	}

	expect(t, killScript(t, p.Addr(), "SCRIPT", "KILL"), "+OK\r\n")
	if got := runaway.Read(); !strings.HasPrefix(got, "-") || !strings.Contains(got, "Script killed by user") {
		t.Fatalf("runaway client got %q", got)
	}
	expect(t, runaway.Do("PING"), "+PONG\r\n")
	expect(t, waiting.Do("INCR", "n"), ":1\r\n")
}

func TestRunawayFunctionCanBeKilled(t *testing.T) {
	r := busyRedis(t)
	p := redistest.StartProxy(t, r.URL())
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("FUNCTION", "LOAD", "#!lua name=spinlib\nredis.register_function('spin', function() while true do end end)"),
		redistest.Bulk("spinlib"))
	c.Send("FCALL", "spin", "0")
	time.Sleep(50 * time.Millisecond)
	stats := redistest.Dial(t, p.Addr())
	expect(t, killScript(t, p.Addr(), "FUNCTION", "KILL"), "+OK\r\n")
	if got := c.Read(); !strings.Contains(got, "killed") {
		t.Fatalf("FCALL got %q", got)
	}
	if got := stats.Do("FUNCTION", "STATS"); !strings.HasPrefix(got, "*") {
		t.Fatalf("FUNCTION STATS: %q", got)
	}
	expect(t, c.Do("PING"), "+PONG\r\n")
}

// Inside MULTI the script runs at EXEC on the client's own connection:
// others see -BUSY from the backend, exactly as with Redis direct, and the
// kill goes through.
func TestRunawayScriptInMultiMatchesRedis(t *testing.T) {
	scenario := func(addr string) []string {
		tx := redistest.Dial(t, addr)
		expect(t, tx.Do("MULTI"), "+OK\r\n")
		expect(t, tx.Do("EVAL", "while true do end", "0"), "+QUEUED\r\n")
		tx.Send("EXEC")
		time.Sleep(300 * time.Millisecond) // past the busy threshold
		other := redistest.Dial(t, addr)
		busy := other.Do("GET", "k")
		killed := killScript(t, addr, "SCRIPT", "KILL")
		return []string{busy, killed, tx.Read(), other.Do("PING"), tx.Do("PING")}
	}
	direct := scenario(busyRedis(t).Addr())
	proxied := scenario(redistest.StartProxy(t, busyRedis(t).URL()).Addr())
	if fmt.Sprint(direct) != fmt.Sprint(proxied) {
		t.Fatalf("redis: %q\nproxy: %q", direct, proxied)
	}
}

func TestRunawayUserVerbCanBeKilled(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "spin.lua"), []byte("-- verb: SPIN\n-- keys: 0\n-- args: 0\nwhile true do end\n"), 0o644)
	r := busyRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, dir))
	c := redistest.Dial(t, p.Addr())
	c.Send("SPIN")
	time.Sleep(50 * time.Millisecond)
	expect(t, killScript(t, p.Addr(), "SCRIPT", "KILL"), "+OK\r\n")
	if got := c.Read(); !strings.Contains(got, "Script killed by user") {
		t.Fatalf("SPIN got %q", got)
	}
	expect(t, c.Do("PING"), "+PONG\r\n")
}

// CLIENT PAUSE WRITE holds the shared connection at its first write; the
// UNPAUSE still arrives.
func TestClientUnpauseReachesPausedBackend(t *testing.T) {
	_, p := setup(t)
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("CLIENT", "PAUSE", "20000", "WRITE"), "+OK\r\n")
	writer := redistest.Dial(t, p.Addr())
	writer.Send("SET", "k", "v")
	time.Sleep(50 * time.Millisecond)
	expect(t, c.Do("CLIENT", "UNPAUSE"), "+OK\r\n")
	expect(t, writer.Read(), "+OK\r\n")
	expect(t, c.Do("GET", "k"), redistest.Bulk("v"))
}

// CLIENT UNBLOCK wakes a client blocked through the proxy, with Redis's
// replies for both reasons.
func TestClientUnblock(t *testing.T) {
	_, p := setup(t)
	for reason, want := range map[string]string{"TIMEOUT": "*-1\r\n", "ERROR": "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"} {
		blocked := redistest.Dial(t, p.Addr())
		id := strings.Trim(blocked.Do("CLIENT", "ID"), ":\r\n")
		blocked.Send("BLPOP", "nothing", "0")
		admin := redistest.Dial(t, p.Addr())
		deadline := time.Now().Add(5 * time.Second)
		for admin.Do("CLIENT", "UNBLOCK", id, reason) != ":1\r\n" {
			if time.Now().After(deadline) {
				t.Fatal("CLIENT UNBLOCK never found the blocked client")
			}
			time.Sleep(10 * time.Millisecond)
		}
		expect(t, blocked.Read(), want)
		expect(t, blocked.Do("PING"), "+PONG\r\n")
		expect(t, admin.Do("CLIENT", "UNBLOCK", id), ":0\r\n")
	}
}

// Replies (and errors) that do not depend on which clients exist match
// Redis byte for byte.
func TestConnectionCommandErrorsMatchRedis(t *testing.T) {
	r, p := setup(t)
	cmds := [][]string{
		{"CLIENT", "UNBLOCK", "x"}, {"CLIENT", "UNBLOCK", "5", "foo"}, {"CLIENT", "UNBLOCK", "99999"},
		{"CLIENT", "UNBLOCK", "5", "timeout", "x"},
		{"CLIENT", "KILL"}, {"CLIENT", "KILL", "1.2.3.4:5"}, {"CLIENT", "KILL", "ID", "x"}, {"CLIENT", "KILL", "ID", "0"},
		{"CLIENT", "KILL", "ID", "99999"}, {"CLIENT", "KILL", "ADDR", "1.2.3.4:5"}, {"CLIENT", "KILL", "LADDR", "1.2.3.4:5"},
		{"CLIENT", "KILL", "USER", "nobody"}, {"CLIENT", "KILL", "USER", "default", "SKIPME", "maybe"},
		{"CLIENT", "KILL", "TYPE", "foo"}, {"CLIENT", "KILL", "FOO", "bar"}, {"CLIENT", "KILL", "ID"},
		{"CLIENT", "KILL", "ID", "5", "ID"}, {"CLIENT", "KILL", "TYPE", "master"}, {"CLIENT", "KILL", "TYPE", "pubsub"},
		{"CLIENT", "REPLY"}, {"CLIENT", "REPLY", "foo"}, {"DEBUG", "SLEEP", "0"}, {"DEBUG", "nosuch"},
	}
	direct, proxied := redistest.Dial(t, r.Addr()), redistest.Dial(t, p.Addr())
	for _, cmd := range cmds {
		if want, got := direct.Do(cmd...), proxied.Do(cmd...); got != want {
			t.Errorf("%q: redis %q, proxy %q", cmd, want, got)
		}
	}
}

func TestClientKill(t *testing.T) {
	_, p := setup(t)
	gone := func(c *redistest.Conn) {
		t.Helper()
		if _, err := c.ReadErr(2 * time.Second); err == nil || strings.Contains(err.Error(), "timeout") {
			t.Fatalf("client still connected (%v)", err)
		}
	}
	admin := redistest.Dial(t, p.Addr())

	byID := redistest.Dial(t, p.Addr())
	id := strings.Trim(byID.Do("CLIENT", "ID"), ":\r\n")
	expect(t, admin.Do("CLIENT", "KILL", "ID", id), ":1\r\n")
	gone(byID)

	oldForm := redistest.Dial(t, p.Addr())
	expect(t, oldForm.Do("PING"), "+PONG\r\n")
	expect(t, admin.Do("CLIENT", "KILL", oldForm.NetConn().LocalAddr().String()), "+OK\r\n")
	gone(oldForm)

	byAddr := redistest.Dial(t, p.Addr())
	expect(t, byAddr.Do("PING"), "+PONG\r\n")
	expect(t, admin.Do("CLIENT", "KILL", "ADDR", byAddr.NetConn().LocalAddr().String(), "USER", "default"), ":1\r\n")
	gone(byAddr)

	sub, normal := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())
	sub.Do("SUBSCRIBE", "ch")
	expect(t, normal.Do("PING"), "+PONG\r\n")
	expect(t, admin.Do("CLIENT", "KILL", "TYPE", "pubsub"), ":1\r\n")
	gone(sub)
	expect(t, admin.Do("CLIENT", "KILL", "MAXAGE", "1000"), ":0\r\n")
	expect(t, normal.Do("PING"), "+PONG\r\n")

	// LADDR names the proxy's listening address: everyone but the caller.
	expect(t, admin.Do("CLIENT", "KILL", "LADDR", p.Addr()), ":1\r\n")
	gone(normal)
	// SKIPME no includes the caller, which gets its reply, then is closed.
	expect(t, admin.Do("CLIENT", "KILL", "SKIPME", "no"), ":1\r\n")
	gone(admin)
}

// CLIENT REPLY OFF|SKIP|ON drop exactly the replies Redis drops.
func TestClientReplyMatchesRedis(t *testing.T) {
	r, p := setup(t)
	var pipeline []byte
	for _, cmd := range [][]string{
		{"CLIENT", "REPLY", "OFF"}, {"SET", "a", "1"}, {"GET", "a"}, {"CLIENT", "REPLY", "SKIP"}, {"INCR", "a"},
		{"CLIENT", "REPLY", "ON"}, {"GET", "a"}, {"CLIENT", "REPLY", "SKIP"}, {"INCR", "a"}, {"GET", "a"},
		{"CLIENT", "REPLY", "SKIP"}, {"CLIENT", "REPLY", "ON"}, {"CLIENT", "REPLY", "bad"}, {"GET", "a"},
	} {
		pipeline = fmt.Appendf(pipeline, "*%d\r\n", len(cmd))
		for _, a := range cmd {
			pipeline = fmt.Appendf(pipeline, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	var got [2]string
	for i, addr := range []string{r.Addr(), p.Addr()} {
		c := redistest.Dial(t, addr)
		c.Write([]byte("FLUSHALL\r\n"))
		c.Read()
		c.Write(pipeline)
		got[i] = c.ReadAll(500 * time.Millisecond)
	}
	if got[0] != got[1] || got[0] == "" {
		t.Fatalf("redis %q\nproxy %q", got[0], got[1])
	}
}

// A legal reply nested thousands deep passes through byte for byte and
// leaves the shared connection working for everyone.
func TestDeeplyNestedReplyMatchesRedis(t *testing.T) {
	r, p := setup(t)
	script := "local a = {} local b = {a} a[1] = b return a"
	want := redistest.Dial(t, r.Addr()).Do("EVAL", script, "0")
	if strings.Count(want, "*1\r\n") < 1000 {
		t.Fatalf("expected a deeply nested reply from redis, got %.100q", want)
	}
	other := redistest.Dial(t, p.Addr())
	other.Send("PING")
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("EVAL", script, "0"), want)
	expect(t, other.Read(), "+PONG\r\n")
	expect(t, c.Do("PING"), "+PONG\r\n")
}

func TestMonitor(t *testing.T) {
	_, p := setup(t)
	mon := redistest.Dial(t, p.Addr())
	expect(t, mon.Do("MONITOR"), "+OK\r\n")
	if list := redistest.Dial(t, p.Addr()).Do("CLIENT", "LIST"); !strings.Contains(list, " flags=O ") {
		t.Errorf("CLIENT LIST does not show the monitor (flags=O): %q", list)
	}
	expect(t, redistest.Dial(t, p.Addr()).Do("SET", "watched", "v"), "+OK\r\n")
	line := regexp.MustCompile(`^\+\d+\.\d+ \[0 127\.0\.0\.1:\d+\] "SET" "watched" "v"\r\n$`)
	for deadline := time.Now().Add(5 * time.Second); ; {
		got := mon.Read()
		if line.MatchString(got) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SET in the monitor feed; last line %q", got)
		}
	}
}

// The commands the proxy refuses are refused inside MULTI as Redis
// refuses them there: SHUTDOWN, SYNC and PSYNC abort the transaction;
// REPLCONF and FAILOVER are queued and fail at EXEC.
func TestRefusedCommandsInsideMulti(t *testing.T) {
	r, p := setup(t)
	direct, proxied := redistest.Dial(t, r.Addr()), redistest.Dial(t, p.Addr())
	for _, cmd := range [][]string{{"SHUTDOWN"}, {"SYNC"}, {"PSYNC", "x", "1"}} {
		for _, c := range []*redistest.Conn{direct, proxied} {
			expect(t, c.Do("MULTI"), "+OK\r\n")
		}
		expect(t, proxied.Do(cmd...), direct.Do(cmd...))
		expect(t, proxied.Do("SET", "k", "v"), direct.Do("SET", "k", "v"))
		expect(t, proxied.Do("EXEC"), direct.Do("EXEC"))
	}
	for _, name := range []string{"REPLCONF", "FAILOVER"} {
		expect(t, proxied.Do("MULTI"), "+OK\r\n")
		expect(t, proxied.Do(name), "+QUEUED\r\n")
		expect(t, proxied.Do("EXEC"), fmt.Sprintf("*1\r\n-ERR '%s' is not supported by redverb; run it against the backend directly\r\n", strings.ToLower(name)))
	}
	expect(t, proxied.Do("EXISTS", "k"), ":0\r\n")
	expect(t, proxied.Do("SHUTDOWN"), "-ERR 'shutdown' is not supported by redverb; run it against the backend directly\r\n")
}

// Clients idle long enough to be moved to a fresh goroutine (idle.go) keep
// their state: a transaction in progress, a subscription, CLIENT REPLY OFF.
func TestIdleClientsKeepTheirState(t *testing.T) {
	_, p := setup(t)
	tx, sub, quiet := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())
	expect(t, tx.Do("MULTI"), "+OK\r\n")
	expect(t, tx.Do("INCR", "idle"), "+QUEUED\r\n")
	sub.Do("SUBSCRIBE", "idle-ch")
	quiet.Send("CLIENT", "REPLY", "OFF")
	time.Sleep(3500 * time.Millisecond) // past shedAfter and a janitor tick
	expect(t, tx.Do("EXEC"), "*1\r\n:1\r\n")
	expect(t, redistest.Dial(t, p.Addr()).Do("PUBLISH", "idle-ch", "m"), ":1\r\n")
	expect(t, sub.Read(), "*3\r\n$7\r\nmessage\r\n$7\r\nidle-ch\r\n$1\r\nm\r\n")
	quiet.Send("INCR", "idle")
	expect(t, quiet.Do("CLIENT", "REPLY", "ON"), "+OK\r\n")
	expect(t, quiet.Do("GET", "idle"), redistest.Bulk("2"))
}

// Redis's own "Timedout read-only scripts can be killed by SCRIPT KILL":
// while one client's script runs past the busy threshold, another client's
// PING gets -BUSY (it must not wait behind the script), SCRIPT KILL stops
// the script, and the next PING gets PONG. Through redverb exactly as
// direct, in front of one Redis and of a cluster.
func TestScriptTimeoutMatchesRedis(t *testing.T) {
	scenario := func(t *testing.T, addr string) []string {
		runaway, other := redistest.Dial(t, addr), redistest.Dial(t, addr)
		runaway.Send("EVAL", "while true do end", "0")
		time.Sleep(200 * time.Millisecond)
		other.Send("PING")
		busy, err := other.ReadErr(2 * time.Second)
		if err != nil {
			t.Fatalf("PING behind a runaway script: %v", err)
		}
		killed := killScript(t, addr, "SCRIPT", "KILL")
		return []string{busy, killed, runaway.Read(), other.Do("PING"), runaway.Do("PING")}
	}
	direct := scenario(t, busyRedis(t, "--lua-time-limit", "10").Addr())
	t.Run("standalone", func(t *testing.T) {
		proxied := scenario(t, redistest.StartProxy(t, busyRedis(t, "--lua-time-limit", "10").URL()).Addr())
		if fmt.Sprint(direct) != fmt.Sprint(proxied) {
			t.Fatalf("redis: %q\nproxy: %q", direct, proxied)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		cl := sharedCluster(t)
		for _, m := range cl.Masters() {
			redistest.Command(m.Addr(), "CONFIG", "SET", "lua-time-limit", "10")
			defer redistest.Command(m.Addr(), "CONFIG", "SET", "lua-time-limit", "5000")
		}
		proxied := scenario(t, redistest.StartProxy(t, cl.URL()).Addr())
		if fmt.Sprint(direct) != fmt.Sprint(proxied) {
			t.Fatalf("redis: %q\nproxy: %q", direct, proxied)
		}
	})
}

// MONITOR through redverb shows what its clients sent, not redverb's own
// set-up commands (HELLO 3 and SELECT on a connection opened for a RESP3
// client's transaction in database 2, CLIENT ID before a blocking command,
// the verbs' FUNCTION LOAD on a new shared connection).
func TestMonitorShowsClientsCommandsOnly(t *testing.T) {
	_, p := setup(t, redistest.WithVerbs(t, ""))
	mon := redistest.Dial(t, p.Addr())
	expect(t, mon.Do("MONITOR"), "+OK\r\n")
	c := redistest.Dial(t, p.Addr())
	c.Do("HELLO", "3")
	c.Do("SELECT", "2")
	c.Do("MULTI")
	c.Do("SET", "a", "1")
	c.Do("EXEC")
	c.Do("CAS", "a", "1", "2")
	c.Do("BLPOP", "q", "0.01")
	c.Do("ECHO", "last")
	var got []string
	for len(got) == 0 || got[len(got)-1] != `"ECHO" "last"` {
		line := mon.Read()
		got = append(got, line[strings.Index(line, "] ")+2:len(line)-2])
	}
	want := []string{`"MULTI"`, `"SET" "a" "1"`, `"EXEC"`, `"FCALL"`, `"GET" "a"`, `"SET" "a" "2"`, `"BLPOP" "q" "0.01"`, `"ECHO" "last"`}
	for i := range got {
		if strings.HasPrefix(got[i], `"FCALL"`) {
			got[i] = `"FCALL"`
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("MONITOR showed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Redis's "MULTI and script timeout" and "EXEC and script timeout": while
// a script runs past the threshold, a transaction on any key is refused as
// one busy server refuses it, also in front of a cluster whose other
// masters are not running the script.
func TestTransactionDuringScriptTimeoutMatchesRedis(t *testing.T) {
	scenario := func(t *testing.T, addr, key string) []string {
		r, r2, rd1 := redistest.Dial(t, addr), redistest.Dial(t, addr), redistest.Dial(t, addr)
		r.Do("SET", key, "1")
		// MULTI arrives during the timeout
		rd1.Send("EVAL", "while true do end", "0")
		time.Sleep(200 * time.Millisecond)
		out := []string{r2.Do("MULTI"), r2.Do("INCR", key)}
		out = append(out, killScript(t, addr, "SCRIPT", "KILL"), rd1.Read())
		time.Sleep(100 * time.Millisecond)
		out = append(out, r2.Do("INCR", key), r2.Do("EXEC"), r.Do("GET", key), r2.Do("PING", "asdf"))
		// EXEC arrives during the timeout
		out = append(out, r2.Do("MULTI"), r2.Do("INCR", key))
		rd1.Send("EVAL", "while true do end", "0")
		time.Sleep(200 * time.Millisecond)
		out = append(out, r2.Do("INCR", key), r2.Do("EXEC"), killScript(t, addr, "SCRIPT", "KILL"), rd1.Read())
		time.Sleep(100 * time.Millisecond)
		return append(out, r.Do("GET", key), r2.Do("PING", "asdf"))
	}
	direct := scenario(t, busyRedis(t, "--lua-time-limit", "10").Addr(), "xx")
	cl := sharedCluster(t)
	for _, m := range cl.Masters() {
		redistest.Command(m.Addr(), "CONFIG", "SET", "lua-time-limit", "10")
		defer redistest.Command(m.Addr(), "CONFIG", "SET", "lua-time-limit", "5000")
	}
	p := redistest.StartProxy(t, cl.URL())
	for _, key := range []string{"xx", "a", "b", "c"} { // on every master
		if proxied := scenario(t, p.Addr(), key); fmt.Sprint(direct) != fmt.Sprint(proxied) {
			t.Fatalf("key %s\nredis: %q\nproxy: %q", key, direct, proxied)
		}
	}
}

// Redis's "Test write commands are paused by RO": during CLIENT PAUSE
// WRITE a client's write waits, counted as blocked, while other clients'
// reads (INFO included) are answered; UNPAUSE releases the write.
func TestPauseWriteHoldsOnlyWrites(t *testing.T) {
	scenario := func(addr string) []string {
		r, rd := redistest.Dial(t, addr), redistest.Dial(t, addr)
		out := []string{r.Do("SET", "k", "v"), r.Do("CLIENT", "PAUSE", "60000", "WRITE")}
		rd.Send("SET", "FOO", "BAR")
		waitBlocked := func(n string) {
			for deadline := time.Now().Add(5 * time.Second); !strings.Contains(r.Do("INFO", "clients"), "blocked_clients:"+n+"\r\n"); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the paused commands never counted as %s blocked", n)
				}
			}
		}
		waitBlocked("1")
		// PFCOUNT and PUBLISH replicate, so the pause holds them too.
		rd2, rd3 := redistest.Dial(t, addr), redistest.Dial(t, addr)
		rd2.Send("PFCOUNT", "hll")
		rd3.Send("PUBLISH", "ch", "m")
		waitBlocked("3")
		out = append(out, r.Do("GET", "k"), r.Do("CLIENT", "UNPAUSE"), rd.Read(), rd2.Read(), rd3.Read(), r.Do("GET", "FOO"))
		return out
	}
	r, p := setup(t)
	direct, proxied := scenario(r.Addr()), scenario(p.Addr())
	if fmt.Sprint(direct) != fmt.Sprint(proxied) {
		t.Fatalf("redis: %q\nproxy: %q", direct, proxied)
	}
}
