package verb

import (
	"bytes"
	"slices"
	"testing"
)

func TestCallEncodings(t *testing.T) {
	c := &Call{SHA: "abc", Script: "return 1", Compact: "return 1 ", Function: "f", Keys: [][]byte{[]byte("k")}, Args: [][]byte{[]byte("a")}}
	for _, tc := range []struct{ name, got, want string }{
		{"EVALSHA", string(c.AppendCall(nil, false)), "*5\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\na\r\n"},
		{"EVAL", string(c.AppendCall(nil, true)), "*5\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\na\r\n"},
		{"compact", string(c.AppendCompactEval(nil)), "*5\r\n$4\r\nEVAL\r\n$9\r\nreturn 1 \r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\na\r\n"},
		{"FCALL", string(c.AppendFCall(nil)), "*5\r\n$5\r\nFCALL\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\na\r\n"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

type native map[string]bool // commands and "command|OPTION"

func (n native) HasCommand(name string) bool       { return n[name] }
func (n native) HasOption(name, token string) bool { return n[name+"|"+token] }

func TestEmulationClaims(t *testing.T) {
	redis7 := native{"set": true, "set|EX": true}
	for _, tc := range []struct {
		e       Emulation
		name    string
		every   bool
		options []string
	}{
		{Emulation{}, "delex", true, nil},
		{Emulation{}, "set", false, nil},
		{Emulation{Options: []string{"IFEQ", "EX"}}, "set", false, []string{"IFEQ"}},
		{Emulation{Options: []string{"EX"}}, "set", false, nil},
	} {
		every, options := tc.e.Claims(tc.name, redis7)
		if every != tc.every || !slices.Equal(options, tc.options) {
			t.Errorf("%v claims of %s: %v %v, want %v %v", tc.e, tc.name, every, options, tc.every, tc.options)
		}
	}
	for args, want := range map[string]bool{"SET k v ifeq x": true, "SET k v EX 1": false, "IFEQ": false, "SET k IFEQX": false} {
		if got := UsesOption(bytes.Fields([]byte(args)), []string{"IFEQ"}); got != want {
			t.Errorf("UsesOption(%q): %v, want %v", args, got, want)
		}
	}
}

func TestArity(t *testing.T) {
	for _, tc := range []struct {
		info Info
		want int
	}{
		{Info{Keys: 1, MinArgs: 2, MaxArgs: 2}, 4},
		{Info{Keys: 1, MinArgs: 2, MaxArgs: -1}, -4},
		{Info{Keys: 2, MinArgs: 1, MaxArgs: 3}, -4},
	} {
		if got := tc.info.Arity(); got != tc.want {
			t.Errorf("%+v: arity %d, want %d", tc.info, got, tc.want)
		}
	}
}
