package proxy

import (
	"strings"
	"testing"

	"github.com/redverb/redverb/verb"
)

// fakeNative is a backend's command table, for the decision alone; the
// integration tests run the stand-ins against real Redis.
type fakeNative struct {
	commands map[string]bool
	options  map[string]bool // "cmd TOKEN"
}

func (f fakeNative) HasCommand(name string) bool { return f.commands[name] }
func (f fakeNative) HasOption(name, token string) bool {
	return f.options[name+" "+token]
}

func TestEmulationNeeded(t *testing.T) {
	redis7 := fakeNative{commands: map[string]bool{"set": true}, options: map[string]bool{"set NX": true}}
	valkey := fakeNative{commands: map[string]bool{"set": true, "delifeq": true}, options: map[string]bool{"set IFEQ": true}}
	redis84 := fakeNative{commands: map[string]bool{"set": true, "delex": true},
		options: map[string]bool{"set IFEQ": true, "set IFNE": true, "set IFDEQ": true, "set IFDNE": true}}
	set := &verb.Emulation{Options: []string{"IFEQ", "IFNE", "IFDEQ", "IFDNE"}}
	whole := &verb.Emulation{}
	for _, c := range []struct {
		e      *verb.Emulation
		native fakeNative
		name   string
		call   string // "" asks about the name alone
		want   bool
	}{
		{set, redis7, "set", "SET k v", false},
		{set, redis7, "set", "SET k v NX GET", false},
		{set, redis7, "set", "SET k v ifeq x", true},
		{set, redis7, "set", "SET k v IFDNE 0123456789abcdef", true},
		{set, redis7, "set", "", true},
		{set, valkey, "set", "SET k v IFEQ x", false},
		{set, valkey, "set", "SET k v IFDEQ 0123456789abcdef", true},
		{set, valkey, "set", "", true},
		{set, redis84, "set", "SET k v IFDEQ 0123456789abcdef", false},
		{set, redis84, "set", "", false},
		{whole, redis7, "delex", "DELEX k", true},
		{whole, redis84, "delex", "DELEX k", false},
		{whole, valkey, "delifeq", "", false},
		{whole, redis84, "delifeq", "", true},
	} {
		var args [][]byte
		if c.call != "" {
			for _, a := range strings.Fields(c.call) {
				args = append(args, []byte(a))
			}
		}
		every, options := c.e.Claims(c.name, c.native)
		got := every || (args == nil && options != nil) || verb.UsesOption(args, options)
		if got != c.want {
			t.Errorf("%v needs %q (%q) = %v, want %v", c.native, c.name, c.call, got, c.want)
		}
	}
}

func TestDocTokens(t *testing.T) {
	reply := "*2\r\n$3\r\nset\r\n*4\r\n$9\r\narguments\r\n*1\r\n*4\r\n$5\r\ntoken\r\n$4\r\nIfEq\r\n" +
		"$4\r\nname\r\n$5\r\ntoken\r\n$5\r\ntoken\r\n$2\r\nNX\r\n"
	got := docTokens([]byte(reply))
	if len(got) != 2 || !got["IFEQ"] || !got["NX"] {
		t.Fatalf("docTokens = %v", got)
	}
	if got := docTokens([]byte("-ERR unknown subcommand 'DOCS'\r\n")); len(got) != 0 {
		t.Fatalf("docTokens of an error = %v", got)
	}
}
