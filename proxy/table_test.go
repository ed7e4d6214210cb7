package proxy

import (
	"strings"
	"testing"

	"github.com/redverb/redverb/internal/keyspec"
	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/verb"
)

// facts is a backend as the command table sees it.
type facts struct {
	cmds    map[string]*keyspec.Command
	options map[string]bool // "set|IFEQ"
	cluster bool
}

func (f facts) CommandKeys() map[string]*keyspec.Command { return f.cmds }
func (f facts) SeveralServers() bool                     { return f.cluster }
func (f facts) HasCommand(name string) bool              { return f.cmds[name] != nil }
func (f facts) HasOption(name, token string) bool        { return f.options[name+"|"+token] }

type verbs []verb.Verb

func (v verbs) Verbs() []verb.Verb      { return v }
func (verbs) Reload() error             { return nil }
func (verbs) Libraries() []verb.Library { return nil }

type fakeVerb verb.Info

func (v fakeVerb) Info() verb.Info                          { return verb.Info(v) }
func (fakeVerb) Resolve([][]byte, bool) (*verb.Call, error) { return &verb.Call{}, nil }

// backendCommand is a backend command as COMMAND shows it before key specs:
// its name, flags, and first key's index (0: none); "name|sub" for a
// subcommand, and container marks a command with subcommands.
func backendCommand(name string, firstKey int, flags ...string) *keyspec.Command {
	reply := "*1\r\n*6\r\n" + string(resp.AppendBulk(nil, name)) + ":-1\r\n" + string(resp.AppendHeader(nil, '*', len(flags)))
	for _, f := range flags {
		reply += "+" + f + "\r\n"
	}
	reply += string(resp.AppendHeader(nil, ':', firstKey)) + ":1\r\n:1\r\n"
	return keyspec.Parse([]byte(reply))[name]
}

func redis7Facts(cluster bool) facts {
	client, script := backendCommand("client", 0), backendCommand("script", 0)
	client.Subs, script.Subs = true, true
	return facts{cluster: cluster, options: map[string]bool{"set|EX": true}, cmds: map[string]*keyspec.Command{
		"get": backendCommand("get", 1, "readonly"), "set": backendCommand("set", 1, "write"), "mget": backendCommand("mget", 1, "readonly"),
		"xread": backendCommand("xread", 0), "ping": backendCommand("ping", 0), "client": client, "client|list": backendCommand("client|list", 0),
		"client|help": backendCommand("client|help", 0), "script": script, "script|kill": backendCommand("script|kill", 0),
		"script|load": backendCommand("script|load", 0), "eval": backendCommand("eval", 0),
		"swapdb": backendCommand("swapdb", 0, "write"), "exec": backendCommand("exec", 0),
	}}
}

func TestClassify(t *testing.T) {
	vs := verbs{fakeVerb{Name: "cas", Keys: 1}, fakeVerb{Name: "set", Emulates: &verb.Emulation{Options: []string{"IFEQ"}}},
		fakeVerb{Name: "delex", Emulates: &verb.Emulation{}}}
	for _, tc := range []struct {
		cluster bool
		call    string
		kind    kind
		name    string // the row's name; "" for an unknown command
		flags   flags
	}{
		{false, "GET k", kindShared, "get", cachedRead | cachedPlain},
		{false, "get k", kindShared, "get", cachedRead | cachedPlain},
		{false, "SET k v", kindShared, "set", heldByPause},
		{false, "SET k v ifeq x", kindVerb, "set", heldByPause},
		{false, "CAS k a b", kindVerb, "cas", 0},
		{false, "DELEX k", kindVerb, "delex", 0},
		{false, "NOSUCH k", kindShared, "", 0},
		{false, "AUTH pw", kindLocal, "auth", beforeAuth | allowedBusy},
		{false, "CLIENT LIST", kindLocal, "client|list", 0},
		{false, "client Pause 10", kindLocal, "client|pause", 0},
		{false, "CLIENT NOSUCH", kindLocal, "client", container},
		{false, "SCRIPT KILL", kindOutOfBand, "script|kill", allowedBusy},
		{false, "SCRIPT LOAD x", kindShared, "script|load", 0},
		{false, "XREAD STREAMS s 0", kindShared, "xread", 0},
		{false, "XREAD BLOCK 0 STREAMS s 0", kindBlocking, "xread", 0},
		{false, "XREAD STREAMS block 0", kindShared, "xread", 0},
		{false, "EVAL x 0", kindUnbounded, "eval", runsScript},
		{false, "MGET a b c", kindShared, "mget", cachedRead | cachedPerKey | cachedPlain},
		{false, "DBSIZE", kindShared, "dbsize", 0},
		{false, "PUBLISH c m", kindShared, "publish", heldByPause},
		{true, "MGET a b c", kindClusterWide, "mget", cachedRead | cachedPerKey | cachedPlain},
		{true, "MGET {a}1 {a}2", kindShared, "mget", cachedRead | cachedPerKey | cachedPlain},
		{true, "MSET a 1 b", kindClusterWide, "mset", 0},
		{true, "DBSIZE", kindClusterWide, "dbsize", 0},
		{true, "SCRIPT KILL", kindClusterWide, "script|kill", allowedBusy},
		{true, "GET k", kindShared, "get", cachedRead | cachedPlain},
	} {
		tab := buildTable(redis7Facts(tc.cluster), vs)
		c := tab.lookup(bytesFields(tc.call))
		if c.kind != tc.kind || c.spec.name != tc.name || c.spec.flags&^container != tc.flags&^container {
			t.Errorf("cluster %v, %q: kind %d, row %q, flags %b; want %d, %q, %b", tc.cluster, tc.call, c.kind, c.spec.name, c.spec.flags, tc.kind, tc.name, tc.flags)
		}
	}
}

// A table built while the backend was unreachable knows only the proxy's
// own rows, and is replaced once the backend answers.
func TestProvisionalTable(t *testing.T) {
	tab := buildTable(facts{}, nil)
	if !tab.provisional {
		t.Fatal("a table without the backend's commands is not provisional")
	}
	if c := tab.lookup(bytesFields("GET k")); c.kind != kindShared || c.spec.keys != nil {
		t.Fatalf("GET before COMMAND: kind %d, keys %v", c.kind, c.spec.keys)
	}
	if buildTable(redis7Facts(false), nil).provisional {
		t.Fatal("a table with the backend's commands is provisional")
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	tab := buildTable(redis7Facts(true), nil)
	cmds := []command{{args: bytesFields("GET k")}, {args: bytesFields("client list")}, {args: bytesFields("MGET {a}1 {a}2")}}
	var buf []byte
	if n := testing.AllocsPerRun(100, func() {
		for i := range cmds {
			buf = tab.classify(&cmds[i], buf)
		}
	}); n > 0 {
		t.Fatalf("%.1f allocations", n)
	}
}

func bytesFields(s string) [][]byte {
	var args [][]byte
	for _, f := range strings.Fields(s) {
		args = append(args, []byte(f))
	}
	return args
}

// What running a command means for the cache is decided with its row.
func TestInvalidationOfRows(t *testing.T) {
	vs := verbs{fakeVerb{Name: "cas", Keys: 1}}
	// Unreachable backend: no facts at all, the verbs' stand-ins included.
	buildTable(facts{}, verbs{fakeVerb{Name: "set", Emulates: &verb.Emulation{Options: []string{"IFEQ"}}}, fakeVerb{Name: "cas", Keys: 1}})
	tab := buildTable(redis7Facts(false), vs)
	for call, want := range map[string]invalidation{
		"GET k": invNone, "PING": invNone, "AUTH pw": invNone, "SET k v": invKeys, "CAS k a b": invVerb,
		"EVAL x 0": invSync, "NOSUCH k": invSync, "FLUSHALL": invFlush, "SWAPDB 0 1": invFlush,
	} {
		if c := tab.lookup(bytesFields(call)); c.spec.inval != want {
			t.Errorf("%q: %d, want %d", call, c.spec.inval, want)
		}
	}
	for call, want := range map[string]txRole{"MULTI": txOpen, "exec": txExec, "DISCARD": txClose, "RESET": txClose, "SET k v": txNone} {
		if c := tab.lookup(bytesFields(call)); c.spec.txRole != want {
			t.Errorf("%q: transaction role %d, want %d", call, c.spec.txRole, want)
		}
	}
}
