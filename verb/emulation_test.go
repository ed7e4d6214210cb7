package verb

import (
	"strings"
	"testing"
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
	set := &Emulation{Options: []string{"IFEQ", "IFNE", "IFDEQ", "IFDNE"}}
	whole := &Emulation{}
	for _, c := range []struct {
		e      *Emulation
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
		got := every || (args == nil && options != nil) || UsesOption(args, options)
		if got != c.want {
			t.Errorf("%v needs %q (%q) = %v, want %v", c.native, c.name, c.call, got, c.want)
		}
	}
}
