package commands

import (
	"strings"
	"testing"

	"github.com/redverb/redverb/verb"
)

func split(s string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(s) {
		out = append(out, []byte(f))
	}
	return out
}

func join(bs [][]byte) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = string(b)
	}
	return strings.Join(parts, " ")
}

// Each checker maps client arguments to script keys and ARGV, or refuses
// them with Redis's error text before anything reaches the backend.
func TestCheckers(t *testing.T) {
	cases := []struct {
		verb, args string
		keys, argv string // expected on success
		err        string // expected error, if any
	}{
		{verb: "cas", args: "k a b", keys: "k", argv: "a b  0"},
		{verb: "cas", args: "k a b ex 10", keys: "k", argv: "a b EX 10"},
		{verb: "cas", args: "k a b PX 5", keys: "k", argv: "a b PX 5"},
		{verb: "cas", args: "k a b keepttl", keys: "k", argv: "a b KEEPTTL 0"},
		{verb: "cas", args: "k a b EX 10 KEEPTTL", err: "syntax error"},
		{verb: "cas", args: "k a b EX 9223372036854775807", err: "invalid expire time in 'cas' command"},
		{verb: "cas", args: "k a b EX 007", err: "value is not an integer or out of range"},
		{verb: "cas", args: "k a", err: "wrong number of arguments for 'cas' command"},
		{verb: "transfer", args: "a b 5", keys: "a b", argv: "5"},
		{verb: "transfer", args: "a b 5 once r 60", keys: "a b r", argv: "5 60"},
		{verb: "transfer", args: "a b +5", err: "amount must be a positive integer"},
		{verb: "transfer", args: "a b 5 ONCE r x", err: "value is not an integer or out of range"},
		{verb: "transfer", args: "a b 5 ONCE r 60 extra", err: "syntax error"},
		{verb: "lock", args: "l t 100", keys: "l", argv: "t 100 0 0"},
		{verb: "lock", args: "l t 100 FENCE", keys: "l {l}:fence", argv: "t 100 1 0"},
		{verb: "lock", args: "{a}l t 100 fence wait 50", keys: "{a}l {a}l:fence", argv: "t 100 1 1"},
		{verb: "lock", args: "l t 100 WAIT 50 WAIT 50", err: "syntax error"},
		{verb: "renew", args: "l t -1", err: "invalid expire time in 'renew' command"},
		{verb: "ratelimit", args: "k 10 1000", keys: "k", argv: "10 1000 1 GCRA"},
		{verb: "ratelimit", args: "k 10 1000 algo sliding cost 2", keys: "k", argv: "10 1000 2 SLIDING"},
		{verb: "ratelimit", args: "k 10 1000 COST 11", err: "cost exceeds limit"},
		{verb: "ratelimit", args: "k 10 1000 COST 0", err: "cost must be a positive integer"},
		{verb: "ratelimit", args: "k 10 1000 ALGO GCRA ALGO FIXED", err: "syntax error"},
		{verb: "cl.throttle", args: "k 4 10 60", keys: "k", argv: "4 10 60 1"},
		{verb: "cl.throttle", args: "k 0 10 60 0", keys: "k", argv: "0 10 60 0"},
		{verb: "cl.throttle", args: "k -1 10 60", err: "max_burst and quantity must be >= 0, count and period must be > 0"},
		{verb: "incrmax", args: "k -5 9223372036854775807", keys: "k", argv: "-5 9223372036854775807"},
		{verb: "incrmax", args: "k 1 9223372036854775808", err: "value is not an integer or out of range"},
		{verb: "setifgt", args: "k 1.5 PX 10", keys: "k", argv: "1.5 PX 10"},
		{verb: "setifgt", args: "k 1.5", keys: "k", argv: "1.5  0"},
		{verb: "setiflt", args: "k inf", err: "value is not a valid float"},
		{verb: "setiflt", args: "k 0x10", err: "value is not a valid float"},
		{verb: "hincrmulti", args: "h a 1 b -2", keys: "h", argv: "a 1 b -2"},
		{verb: "hincrmulti", args: "h a 1.5", err: "value is not an integer or out of range"},
		{verb: "hgetorset", args: "h a 1 b", err: "wrong number of arguments for 'hgetorset' command"},
		{verb: "reserve", args: "s q item", keys: "s q", argv: "item 1"},
		{verb: "reserve", args: "s q item count 3", keys: "s q", argv: "item 3"},
		{verb: "reserve", args: "s q item COUNT -3", err: "count must be a positive integer"},
	}
	for _, tc := range cases {
		call := &verb.Call{}
		err := checkers[tc.verb](split(tc.args), call, true)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s %s: error %v, want %q", tc.verb, tc.args, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s %s: unexpected error %v", tc.verb, tc.args, err)
		case tc.err == "" && (join(call.Keys) != tc.keys || join(call.Args) != tc.argv):
			t.Errorf("%s %s: keys %q argv %q, want %q %q", tc.verb, tc.args, join(call.Keys), join(call.Args), tc.keys, tc.argv)
		}
	}
}

func TestLockWaitOnlyWhereItCanWait(t *testing.T) {
	call := &verb.Call{}
	if err := checkLock(split("l t 100 WAIT 50"), call, false); err != nil || call.Retry != nil || join(call.Args) != "t 100 0 0" {
		t.Fatalf("inside MULTI: retry %v argv %q err %v", call.Retry != nil, join(call.Args), err)
	}
	call = &verb.Call{}
	if err := checkLock(split("l t 100 WAIT 50"), call, true); err != nil || call.Retry == nil || call.Wake != "l" || call.WakeChannel != LockReleased {
		t.Fatalf("outside MULTI: %+v %v", call, err)
	}
}

func TestParseVerb(t *testing.T) {
	cases := []struct {
		src, err string
		keys     int
		min, max int
		readonly bool
	}{
		{src: "-- verb: x\n-- keys: 2\n-- args: 1-3\nreturn 1", keys: 2, min: 1, max: 3},
		{src: "-- verb: x\n-- args: 2-*\n-- flags: readonly\nreturn 1", min: 2, max: -1, readonly: true},
		{src: "-- verb: x\n-- ARGV: free comment\nreturn 1", min: 0, max: -1},
		{src: "-- keys: 1\nreturn 1", err: "f.lua:1: missing '-- verb: NAME' header"},
		{src: "-- verb: x\n-- keys: -1\nreturn 1", err: "f.lua:2: keys must be a non-negative integer"},
		{src: "-- verb: x\n-- args: 3-1\nreturn 1", err: "f.lua:2: args must be MIN or MIN-MAX"},
		{src: "-- verb: x\n-- flags: fast\nreturn 1", err: "f.lua:2: unknown flag \"fast\""},
		{src: "-- verb: x\n-- verb: y\nreturn 1", err: "f.lua:2: verb declared twice"},
		{src: "-- verb: two words\nreturn 1", err: "f.lua:1: verb name"},
	}
	for _, tc := range cases {
		v, err := ParseVerb(tc.src, "f.lua")
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.src, err, tc.err)
			}
			continue
		}
		if err != nil || v.Keys != tc.keys || v.MinArgs != tc.min || v.MaxArgs != tc.max || v.ReadOnly != tc.readonly {
			t.Errorf("%q: %+v, %v", tc.src, v, err)
		}
	}
}

func TestConversions(t *testing.T) {
	if got := string(bulkToInteger([]byte("$19\r\n9223372036854775807\r\n"))); got != ":9223372036854775807\r\n" {
		t.Errorf("bulkToInteger: %q", got)
	}
	if got := string(bulkToInteger([]byte("$-1\r\n"))); got != "$-1\r\n" {
		t.Errorf("null must stay null: %q", got)
	}
	if got := string(bulksToIntegers([]byte("*2\r\n$1\r\n1\r\n$2\r\n-2\r\n"))); got != "*2\r\n:1\r\n:-2\r\n" {
		t.Errorf("bulksToIntegers: %q", got)
	}
	if got := string(lockFailed([]byte("*2\r\n:0\r\n:1500\r\n"))); got != ":0\r\n" {
		t.Errorf("lockFailed: %q", got)
	}
}
