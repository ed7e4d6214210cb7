package verb

import "testing"

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

func TestEmulationNeeded(t *testing.T) {
	redis7 := native{"set": true, "set|EX": true}
	for _, tc := range []struct {
		e    Emulation
		name string
		args []string
		want bool
	}{
		{Emulation{}, "delex", nil, true},
		{Emulation{}, "set", nil, false},
		{Emulation{Options: []string{"IFEQ"}}, "set", []string{"SET", "k", "v", "ifeq", "x"}, true},
		{Emulation{Options: []string{"IFEQ"}}, "set", []string{"SET", "k", "v", "EX", "1"}, false},
		{Emulation{Options: []string{"EX"}}, "set", []string{"SET", "k", "v", "EX", "1"}, false},
	} {
		var args [][]byte
		for _, a := range tc.args {
			args = append(args, []byte(a))
		}
		if tc.args == nil {
			args = nil
		}
		if got := tc.e.Needed(tc.name, args, redis7); got != tc.want {
			t.Errorf("%v needed for %v: %v, want %v", tc.e, tc.args, got, tc.want)
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
