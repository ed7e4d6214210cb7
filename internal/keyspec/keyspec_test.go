package keyspec

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// testdata/command-info-7.0.txt is redis-server 7.0.15's raw reply to
// COMMAND INFO get set xread eval zunionstore migrate client object ping.
func TestParseRedis70(t *testing.T) {
	reply, err := os.ReadFile("testdata/command-info-7.0.txt")
	if err != nil {
		t.Fatal(err)
	}
	cmds := Parse(reply)
	for name, want := range map[string]struct{ readonly, write, subs bool }{
		"get": {readonly: true}, "set": {write: true}, "xread": {readonly: true}, "eval": {},
		"zunionstore": {write: true}, "migrate": {write: true}, "client": {subs: true}, "client|list": {},
		"object": {subs: true}, "object|encoding": {readonly: true}, "ping": {},
	} {
		c := cmds[name]
		if c == nil {
			t.Errorf("%s: missing from %d commands", name, len(cmds))
			continue
		}
		if c.ReadOnly != want.readonly || c.Write != want.write || c.Subs != want.subs {
			t.Errorf("%s: readonly %v write %v subs %v, want %+v", name, c.ReadOnly, c.Write, c.Subs, want)
		}
	}
	for _, tc := range []struct {
		name, call string
		first      int
	}{
		{"get", "GET k", 1},
		{"set", "SET k v EX 1", 1},
		{"xread", "XREAD COUNT 2 STREAMS s1 s2 0 0", 4},
		{"xread", "XREAD COUNT 2", -1},
		{"eval", "EVAL body 2 k1 k2 a", 3},
		{"eval", "EVAL body 0 a", -1},
		{"eval", "EVAL body x", -1},
		{"zunionstore", "ZUNIONSTORE dest 2 a b", 1},
		{"migrate", "MIGRATE host 6379 k 0 5000", 3},
		{"object|encoding", "OBJECT ENCODING k", 2},
		{"ping", "PING", -1},
		{"nosuch", "NOSUCH k", -1},
	} {
		if got := cmds[tc.name].FirstKey(fields(tc.call)); got != tc.first {
			t.Errorf("%q: first key at %d, want %d", tc.call, got, tc.first)
		}
	}
	for _, tc := range []struct{ name, call, keys string }{
		{"get", "GET k", "k"},
		{"set", "SET k v EX 1", "k"},
		{"xread", "XREAD COUNT 2 STREAMS s1 s2 0 0", "s1 s2"},
		{"xread", "XREAD STREAMS s1 0", "s1"},
		{"eval", "EVAL body 2 k1 k2 a", "k1 k2"},
		{"eval", "EVAL body 0 a", ""},
		{"zunionstore", "ZUNIONSTORE dest 2 a b WEIGHTS 1 2", "dest a b"},
		{"migrate", "MIGRATE host 6379 \"\" 0 5000 KEYS a b", "\"\" a b"}, // the empty key too, as Redis finds it
		{"ping", "PING", ""},
	} {
		keys := cmds[tc.name].Keys(fields(tc.call), nil)
		if got := string(bytes.Join(keys, []byte(" "))); got != tc.keys {
			t.Errorf("%q: keys %q, want %q", tc.call, got, tc.keys)
		}
	}
}

// Before key specs (Redis 6), the first key is COMMAND's first-key field.
func TestParseRedis6(t *testing.T) {
	reply := "*1\r\n*6\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
	c := Parse([]byte(reply))["get"]
	if c == nil || !c.ReadOnly || c.FirstKey(fields("GET k")) != 1 {
		t.Fatalf("get: %+v", c)
	}
	// first key 1, last key -1 (the last argument), step 2.
	mset := Parse([]byte("*1\r\n*6\r\n$4\r\nmset\r\n:-3\r\n*1\r\n+write\r\n:1\r\n:-1\r\n:2\r\n"))["mset"]
	if got := string(bytes.Join(mset.Keys(fields("MSET a 1 b 2 c 3"), nil), []byte(" "))); got != "a b c" {
		t.Fatalf("mset keys %q", got)
	}
}

func TestParseRefusesGarbage(t *testing.T) {
	for _, reply := range []string{"", "-ERR no\r\n", "*1\r\n:1\r\n", "*1\r\n*2\r\n$3\r\nget\r\n:2\r\n"} {
		if cmds := Parse([]byte(reply)); len(cmds) != 0 {
			t.Errorf("Parse(%q) = %v", reply, cmds)
		}
	}
}

func fields(call string) [][]byte {
	var args [][]byte
	for _, f := range strings.Fields(call) {
		args = append(args, []byte(f))
	}
	return args
}
