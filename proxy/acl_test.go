package proxy_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/redistest"
)

// --auth backend: clients log in as the backend's ACL users and each runs
// as its user there, over shared connections: two users with different key
// patterns, pipelining at the same time, each get exactly the replies (OK
// or NOPERM) that the same user gets from Redis directly.
func TestACLUsersThroughProxy(t *testing.T) {
	r := redistest.StartRedis(t)
	admin := redistest.Dial(t, r.Addr())
	expect(t, admin.Do("ACL", "SETUSER", "alice", "on", ">alicepw", "~alice:*", "+@all"), "+OK\r\n")
	expect(t, admin.Do("ACL", "SETUSER", "bob", "on", ">bobpw", "~bob:*", "+@all", "-get"), "+OK\r\n")
	core, logs := observer.New(zap.DebugLevel)
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, ""), redistest.WithLogger(zap.New(core)),
		redistest.WithBackend(func(bo *backend.BackendOptions) { bo.AuthClients = true }))
	defer func() {
		for _, e := range logs.All() {
			if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, "pw") || strings.Contains(line, "wrong") {
				t.Errorf("a password reached the log: %s", line)
			}
		}
	}()

	script := func(user string) [][]string {
		var cmds [][]string
		for i := 0; i < 200; i++ {
			cmds = append(cmds,
				[]string{"SET", fmt.Sprintf("%s:%d", user, i), user},
				[]string{"GET", fmt.Sprintf("%s:%d", user, i)},
				[]string{"SET", fmt.Sprintf("alice:x%d", i), user}, // alice's keys
				[]string{"EVAL", "return redis.call('INCR', KEYS[1])", "1", "alice:n"},
				[]string{"ACL", "WHOAMI"})
		}
		return cmds
	}
	replies := func(addr, user string) []string {
		c := redistest.Dial(t, addr)
		expect(t, c.Do("AUTH", user, user+"pw"), "+OK\r\n")
		cmds := script(user)
		for _, cmd := range cmds {
			c.Send(cmd...)
		}
		out := make([]string, len(cmds))
		for i := range cmds {
			out[i] = c.Read()
		}
		return out
	}
	want := map[string][]string{}
	for _, user := range []string{"alice", "bob"} {
		want[user] = replies(r.Addr(), user)
	}
	expect(t, admin.Do("FLUSHALL"), "+OK\r\n")
	got := map[string][]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, user := range []string{"alice", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := replies(p.Addr(), user)
			mu.Lock()
			got[user] = out
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, user := range []string{"alice", "bob"} {
		cmds := script(user)
		for i := range cmds {
			if got[user][i] != want[user][i] {
				t.Fatalf("%s %q:\n redis: %q\n proxy: %q", user, strings.Join(cmds[i], " "), want[user][i], got[user][i])
			}
		}
	}
	if !strings.Contains(want["bob"][1], "NOPERM") || !strings.Contains(want["bob"][2], "NOPERM") || want["alice"][4] != "$5\r\nalice\r\n" {
		t.Fatalf("the users' permissions did not differ: %q %q %q", want["bob"][1], want["bob"][2], want["alice"][4])
	}

	// Verbs run as the user too.
	alice, bob := redistest.Dial(t, p.Addr()), redistest.Dial(t, p.Addr())
	expect(t, alice.Do("AUTH", "alice", "alicepw"), "+OK\r\n")
	expect(t, bob.Do("AUTH", "bob", "bobpw"), "+OK\r\n")
	expect(t, alice.Do("INCRMAX", "alice:m", "1", "10"), ":1\r\n")
	// bob may not GET, which the verb's script does.
	expect(t, bob.Do("INCRMAX", "bob:m", "1", "10"), "-ERR The user executing the script can't run this command or subcommand\r\n")
	expect(t, admin.Do("ACL", "SETUSER", "bob", "+get"), "+OK\r\n")
	expect(t, bob.Do("INCRMAX", "bob:m", "1", "10"), ":1\r\n")
	if got := bob.Do("INCRMAX", "alice:m", "1", "10"); !strings.HasPrefix(got, "-") {
		t.Fatalf("bob's verb on alice's key: %q", got)
	}
	expect(t, admin.Do("ACL", "SETUSER", "bob", "-get"), "+OK\r\n")

	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("ACL", "WHOAMI"), "$7\r\ndefault\r\n") // not logged in: the default user, as direct
	expect(t, c.Do("AUTH", "alice", "wrong"), "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	expect(t, c.Do("AUTH", "nobody", "x"), "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	expect(t, c.Do("AUTH", "onlypassword"), redistest.Dial(t, r.Addr()).Do("AUTH", "onlypassword"))
	expect(t, c.Do("HELLO", "2", "AUTH", "bob", "bobpw")[:3], "*14")
	expect(t, c.Do("ACL", "WHOAMI"), "$3\r\nbob\r\n")
	if info := c.Do("CLIENT", "INFO"); !strings.Contains(info, " user=bob ") {
		t.Fatalf("CLIENT INFO: %q", info)
	}
	expect(t, c.Do("SELECT", "1"), "+OK\r\n")
	expect(t, c.Do("ACL", "WHOAMI"), "$3\r\nbob\r\n")
	expect(t, c.Do("MULTI"), "+OK\r\n")
	expect(t, c.Do("GET", "bob:1"), "-NOPERM this user has no permissions to run the 'get' command\r\n")
	expect(t, c.Do("RESET"), "+RESET\r\n")
	expect(t, c.Do("ACL", "WHOAMI"), "$7\r\ndefault\r\n")
}

// With no password of its own, redverb answers AUTH and HELLO ... AUTH as
// the backend does: its ACL users log in, wrong passwords and forbidden
// commands get its errors, and an unauthenticated client is its default
// user. No flag needed.
func TestAuthIsTheBackendsByDefault(t *testing.T) {
	scenario := func(addr string) []string {
		admin := redistest.Dial(t, addr)
		admin.Do("ACL", "SETUSER", "carol", "on", ">carolpw", "~carol:*", "+@all", "-flushall")
		c := redistest.Dial(t, addr)
		hello := redistest.Dial(t, addr)
		helloReply := hello.Do("HELLO", "3", "AUTH", "carol", "carolpw")
		return []string{
			c.Do("ACL", "WHOAMI"),
			c.Do("AUTH", "carol", "wrong"),
			c.Do("AUTH", "nobody", "x"),
			c.Do("AUTH", "carol", "carolpw"),
			c.Do("ACL", "WHOAMI"),
			c.Do("SET", "carol:1", "v"),
			c.Do("SET", "other", "v"),
			c.Do("FLUSHALL"),
			fmt.Sprint(strings.HasPrefix(helloReply, "%7\r\n")),
			hello.Do("ACL", "WHOAMI"),
			c.Do("AUTH", "onlyapassword"),
			c.Do("RESET"),
			c.Do("ACL", "WHOAMI"),
		}
	}
	direct := scenario(redistest.StartRedis(t).Addr())
	proxied := scenario(redistest.StartProxy(t, redistest.StartRedis(t).URL()).Addr())
	if fmt.Sprint(direct) != fmt.Sprint(proxied) {
		t.Fatalf("redis: %q\nproxy: %q", direct, proxied)
	}
}

// A client that selected a database, then authenticated as a user who may
// not SELECT, stays in that database, as on Redis (Redis's ACL tests do
// exactly this).
func TestAuthKeepsSelectedDatabase(t *testing.T) {
	scenario := func(addr string) []string {
		admin := redistest.Dial(t, addr)
		admin.Do("ACL", "SETUSER", "dave", "on", ">davepw", "~*", "+@all", "-select")
		c := redistest.Dial(t, addr)
		return []string{c.Do("SELECT", "9"), c.Do("SET", "k", "v9"), c.Do("AUTH", "dave", "davepw"),
			c.Do("GET", "k"), c.Do("SET", "k2", "x"), c.Do("SELECT", "0"), c.Do("DBSIZE"), c.Do("BLPOP", "nothing", "0.01")}
	}
	direct := scenario(redistest.StartRedis(t).Addr())
	proxied := scenario(redistest.StartProxy(t, redistest.StartRedis(t).URL()).Addr())
	if fmt.Sprint(direct) != fmt.Sprint(proxied) {
		t.Fatalf("redis: %q\nproxy: %q", direct, proxied)
	}
}
