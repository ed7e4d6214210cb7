package commands_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redverb/redverb/commands"
	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/proxy"
)

// SCRIPT FLUSH runs on the backend in a loop while clients use verbs singly,
// pipelined (checking that what follows a verb sees its effect) and inside
// MULTI: no client ever sees NOSCRIPT or any other error. Verbs run as
// Redis functions, which SCRIPT FLUSH does not touch; for a backend user
// that may not load functions they run as scripts, reloaded after each
// flush.
func TestNoScriptNeverReachesClients(t *testing.T) {
	t.Run("functions", func(t *testing.T) {
		r, p := start(t)
		before := proxy.ScriptReloads()
		scriptFlushStress(t, r, p)
		if got := proxy.ScriptReloads(); got != before {
			t.Errorf("%d reloads: functions should have survived SCRIPT FLUSH", got-before)
		}
		if stats := string(redistest.Command(r.Addr(), "INFO", "commandstats")); !strings.Contains(stats, "cmdstat_fcall:") {
			t.Error("no verb ran as FCALL")
		}
	})
	t.Run("scripts", func(t *testing.T) {
		r := redistest.StartRedis(t)
		redistest.Command(r.Addr(), "ACL", "SETUSER", "nofunctions", "on", ">pw", "~*", "&*", "+@all", "-function")
		p := redistest.StartProxy(t, "redis://nofunctions:pw@"+r.Addr(), redistest.WithVerbs(t, ""))
		before := proxy.ScriptReloads()
		scriptFlushStress(t, r, p)
		if proxy.ScriptReloads() == before {
			t.Fatal("no script was ever reloaded; the flushes did not hit")
		}
	})
}

func scriptFlushStress(t *testing.T, r *redistest.Redis, p *redistest.Proxy) {
	stop := make(chan struct{})
	flushed := make(chan int)
	go func() {
		c := redistest.Dial(t, r.Addr())
		n := 0
		for {
			select {
			case <-stop:
				flushed <- n
				return
			default:
				c.Do("SCRIPT", "FLUSH")
				n++
				time.Sleep(200 * time.Microsecond)
			}
		}
	}()
	var wg sync.WaitGroup
	var failures atomic.Int64
	fail := func(format string, args ...any) {
		failures.Add(1)
		t.Errorf(format, args...)
	}
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			c := redistest.Dial(t, p.Addr())
			a, b := "a:"+strconv.Itoa(id), "b:"+strconv.Itoa(id)
			c.Do("SET", a, "1000000")
			for n := 1; n <= 150 && failures.Load() < 5; n++ {
				switch n % 3 {
				case 0: // single
					if got := c.Do("CAS", a, "nope", "x"); got != zero {
						fail("CAS: %q", got)
					}
				case 1: // pipelined: the GET must see the transfer
					c.Send("TRANSFER", a, b, "1")
					c.Send("GET", b)
					if got := c.Read(); got != one {
						fail("TRANSFER in pipeline: %q", got)
					}
					if got, want := c.Read(), bulk(strconv.Itoa((n+2)/3)); got != want {
						fail("GET after TRANSFER: %q, want %q", got, want)
					}
				case 2: // in MULTI
					c.Send("MULTI")
					c.Send("INCRMAX", "m:"+strconv.Itoa(id), "1", "1000")
					c.Send("EXEC")
					c.Read()
					c.Read()
					if got := c.Read(); !strings.HasPrefix(got, "*1\r\n:") {
						fail("EXEC with a verb: %q", got)
					}
				}
			}
		}(i)
	}
	wg.Wait()
	close(stop)
	if n := <-flushed; n < 50 {
		t.Fatalf("only %d SCRIPT FLUSH calls ran; the test did not stress reloads", n)
	}
}

func TestVerbsWorkAfterBackendRestart(t *testing.T) {
	r, p := start(t)
	c := redistest.Dial(t, p.Addr())
	expectDo(t, c, []string{"SET", "k", "v"}, ok)
	expectDo(t, c, []string{"CAS", "k", "v", "w"}, one)
	r.Restart() // empty dataset, empty script cache
	deadline := time.Now().Add(5 * time.Second)
	for c.Do("SET", "k", "v") != ok {
		if time.Now().After(deadline) {
			t.Fatal("proxy did not recover")
		}
		time.Sleep(20 * time.Millisecond)
	}
	expectDo(t, c, []string{"CAS", "k", "v", "again"}, one)
	expectDo(t, c, []string{"GET", "k"}, bulk("again"))
}

const goodVerb = `-- verb: GETDOUBLE
-- keys: 1
-- args: 0
-- flags: readonly
-- summary: Twice the number at key.
return 2 * tonumber(redis.call('GET', KEYS[1]) or '0')
`

func TestUserVerbs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("double.lua", goodVerb)
	write("broken.lua", "-- verb: BROKEN\n-- keys: 1\nreturn (\n")
	write("nameless.lua", "-- keys: 1\nreturn 1\n")
	write("clash.lua", "-- verb: CAS\nreturn 1\n")
	_, err := commandsRegistry(dir)
	for _, want := range []string{"broken.lua:3: Lua syntax error", "nameless.lua:1: missing '-- verb: NAME' header", "clash.lua:1: verb cas is already defined by builtin:cas.lua"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("load error %v does not report %q", err, want)
		}
	}

	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, dir))
	c := redistest.Dial(t, p.Addr())
	// The good file works, the bad ones are refused, the built-ins still work.
	expectDo(t, c, []string{"SET", "n", "21"}, ok)
	expectDo(t, c, []string{"GETDOUBLE", "n"}, ":42\r\n")
	expectDo(t, c, []string{"GETDOUBLE"}, arity("getdouble"))
	expectDo(t, c, []string{"GETDOUBLE", "n", "extra"}, arity("getdouble"))
	expectDo(t, c, []string{"BROKEN", "n"}, "-ERR unknown command 'BROKEN', with args beginning with: 'n' \r\n")
	expectDo(t, c, []string{"CAS", "n", "21", "22"}, one)
	verbs := c.Do("REDVERB", "VERBS")
	if !strings.Contains(verbs, "getdouble") || !strings.Contains(verbs, filepath.Join(dir, "double.lua")) || !strings.Contains(verbs, "builtin:cas.lua") {
		t.Fatalf("REDVERB VERBS: %q", verbs)
	}

	// RELOAD with a bad file refuses and keeps the previous verbs.
	got := c.Do("REDVERB", "RELOAD")
	if !strings.HasPrefix(got, "-ERR reload refused") || !strings.Contains(got, "broken.lua:3") {
		t.Fatalf("RELOAD with bad files: %q", got)
	}
	expectDo(t, c, []string{"GETDOUBLE", "n"}, ":44\r\n")

	// Fixed files and an edited verb: RELOAD changes behaviour.
	os.Remove(filepath.Join(dir, "broken.lua"))
	os.Remove(filepath.Join(dir, "nameless.lua"))
	os.Remove(filepath.Join(dir, "clash.lua"))
	write("double.lua", strings.Replace(goodVerb, "return 2 *", "return 3 *", 1))
	expectDo(t, c, []string{"REDVERB", "RELOAD"}, ok)
	expectDo(t, c, []string{"GETDOUBLE", "n"}, ":66\r\n")
}

func TestCommandIntrospectionIncludesVerbs(t *testing.T) {
	r, p := start(t)
	direct := redistest.Dial(t, r.Addr())
	c := redistest.Dial(t, p.Addr())
	backendCount, _ := strconv.Atoi(strings.TrimSpace(direct.Do("COMMAND", "COUNT")[1:]))
	count, _ := strconv.Atoi(strings.TrimSpace(c.Do("COMMAND", "COUNT")[1:]))
	// 14 verbs, and 5 stand-ins for commands this backend lacks (DELEX,
	// DIGEST, MSETEX, HGETDEL, DELIFEQ); SET's stand-in replaces its entry.
	if count != backendCount+19 {
		t.Fatalf("COMMAND COUNT %d, backend has %d, want +19 verbs", count, backendCount)
	}
	all := c.Do("COMMAND")
	if !strings.HasPrefix(all, "*"+strconv.Itoa(count)+"\r\n") || !strings.Contains(all, bulk("transfer")+":-4\r\n") {
		t.Fatalf("COMMAND does not list the verbs with their arity")
	}
	if n := strings.Count(all, "\r\n"+bulk("set")+":-3\r\n"); n != 1 {
		t.Fatalf("COMMAND lists SET %d times", n)
	}
	info := c.Do("COMMAND", "INFO", "get", "cas", "nosuch", "transfer")
	want := "*4\r\n" + direct.Do("COMMAND", "INFO", "get")[4:]
	if !strings.HasPrefix(info, want) {
		t.Fatalf("COMMAND INFO get, ...: backend's entry for get not first: %q", info[:80])
	}
	if !strings.Contains(info, bulk("cas")+":-4\r\n*1\r\n+write\r\n:1\r\n:1\r\n:1\r\n") ||
		!strings.Contains(info, "$-1\r\n") || !strings.Contains(info, bulk("transfer")+":-4\r\n*1\r\n+write\r\n:1\r\n:2\r\n:1\r\n") {
		t.Fatalf("COMMAND INFO: %q", info)
	}
	docs := c.Do("COMMAND", "DOCS", "cas")
	if !strings.Contains(docs, bulk("summary")+bulk("Set key to new only if its current value equals expected; like SET, clears the TTL unless EX, PX or KEEPTTL.")) {
		t.Fatalf("COMMAND DOCS cas: %q", docs)
	}
	// The arguments named as the verb file's syntax line says, in Redis's
	// structure: type, token, flags, and a choice's arguments.
	for _, want := range []string{
		bulk("arguments") + "*4\r\n*8\r\n" + bulk("name") + bulk("key") + bulk("type") + bulk("key") + bulk("key_spec_index") + ":0\r\n",
		bulk("name") + bulk("expected") + bulk("type") + bulk("string") + bulk("display_text") + bulk("expected"),
		bulk("name") + bulk("option") + bulk("type") + bulk("oneof") + bulk("flags") + "*1\r\n+optional\r\n" + bulk("arguments") + "*3\r\n",
		bulk("name") + bulk("seconds") + bulk("type") + bulk("integer") + bulk("display_text") + bulk("seconds") + bulk("token") + bulk("EX"),
		bulk("name") + bulk("keepttl") + bulk("type") + bulk("pure-token") + bulk("token") + bulk("KEEPTTL"),
	} {
		if !strings.Contains(docs, want) {
			t.Errorf("COMMAND DOCS cas lacks %q:\n%q", want, docs)
		}
	}
	c.Do("HELLO", "3")
	if docs := c.Do("COMMAND", "DOCS", "get", "cas"); !strings.HasPrefix(docs, "%2\r\n") {
		t.Fatalf("RESP3 COMMAND DOCS get cas: %q", docs[:20])
	}
}

func commandsRegistry(dir string) (*commands.Registry, error) { return commands.NewRegistry(dir) }

// A FUNCTION FLUSH sent to the backend directly removes the verbs'
// functions: the next calls load them again and answer as usual.
func TestVerbsSurviveFunctionFlush(t *testing.T) {
	r, p := start(t)
	c := redistest.Dial(t, p.Addr())
	expectDo(t, c, []string{"SET", "k", "v"}, ok)
	expectDo(t, c, []string{"CAS", "k", "v", "w"}, one)
	before := proxy.ScriptReloads()
	if got := string(redistest.Command(r.Addr(), "FUNCTION", "FLUSH")); got != ok {
		t.Fatalf("FUNCTION FLUSH: %q", got)
	}
	c.Send("CAS", "k", "w", "x")
	c.Send("GET", "k")
	c.Send("CAS", "k", "x", "y")
	for i, want := range []string{one, "", one} {
		if got := c.Read(); want != "" && got != want {
			t.Fatalf("reply %d: %q, want %q", i, got, want)
		}
		// The GET ran before the reloaded CAS: the one documented
		// exception to "a command after a verb sees its effect".
	}
	expectDo(t, c, []string{"GET", "k"}, bulk("y"))
	if proxy.ScriptReloads() == before {
		t.Fatal("no function was loaded again")
	}
}
