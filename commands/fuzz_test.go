package commands

import (
	"bytes"
	"sort"
	"testing"
)

// FuzzVerbArguments: any arguments to any built-in verb are either refused
// with an error or resolved to a call with the verb's declared keys; the
// checkers never panic.
func FuzzVerbArguments(f *testing.F) {
	verbs := Builtins()
	names := make([]string, 0, len(verbs))
	for name := range verbs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, seed := range []string{
		"k\x00old\x00new", "from\x00to\x0010", "lock\x00token\x005000\x00WAIT\x001000\x00FENCE",
		"rl\x0010\x001000\x00ALGO\x00GCRA", "t\x0015\x0030\x0060\x001", "k\x005\x00100",
		"h\x00f1\x001\x00f2\x00-2", "k\x00-9223372036854775808\x00abc", "",
		"k\x00v\x00IFDEQ\x000123456789abcdef\x00GET\x00EX\x0010", "2\x00a\x001\x00b\x002\x00NX\x00KEEPTTL",
		"h\x00FIELDS\x002\x00a\x00b", "k\x00IFDNE\x00FFFFFFFFFFFFFFFF",
	} {
		for i := range names {
			f.Add(uint8(i), []byte(seed), true)
		}
	}
	reg, err := NewRegistry("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte, mayWait bool) {
		name := names[int(which)%len(names)]
		args := [][]byte{[]byte(name)}
		if len(raw) > 0 {
			args = append(args, bytes.Split(raw, []byte{0})...)
		}
		call, err := reg.Resolve([]byte(name), args, mayWait)
		if err != nil {
			return
		}
		if call.SHA == "" || call.Script == "" {
			t.Fatalf("%q resolved without a script", args)
		}
		if !mayWait && call.Retry != nil {
			t.Fatalf("%q may wait where it must not", args)
		}
		if len(call.Keys)+len(call.Args) > len(args)+8 {
			t.Fatalf("%q became %d keys and %d args", args, len(call.Keys), len(call.Args))
		}
	})
}

// FuzzParseVerb: any user verb file is accepted with a one-word lower-case
// name and sane argument counts, or refused with an error naming the file.
func FuzzParseVerb(f *testing.F) {
	for _, seed := range []string{
		"-- verb: GETDOUBLE\n-- keys: 1\n-- args: 0\n-- flags: readonly\n-- summary: Twice.\nreturn 1\n",
		"-- verb: X\n-- args: 1-*\nreturn 1", "-- verb: X\n-- keys: -1\n", "-- keys: 1\nreturn 1\n",
		"-- verb: A\n-- verb: B\n", "-- verb: two words\n", "-- verb: X\n-- args: 3-1\n", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script string) {
		v, err := ParseVerb(script, "fuzz.lua")
		if err != nil {
			if !bytes.HasPrefix([]byte(err.Error()), []byte("fuzz.lua:")) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if v.Name == "" || bytes.ContainsAny([]byte(v.Name), " \t\"'") || v.Keys < 0 || v.MinArgs < 0 ||
			(v.MaxArgs >= 0 && v.MaxArgs < v.MinArgs) {
			t.Fatalf("accepted a bad verb: %+v", v)
		}
	})
}

// FuzzDigestSteps: whatever the backend answers a step of a digest
// condition, the next step or the client's answer comes back, never a
// panic, and a step that goes on compares with the exact value read.
func FuzzDigestSteps(f *testing.F) {
	for _, seed := range []string{"*0\r\n", "*1\r\n$5\r\nhello\r\n", "$-1\r\n", "+OK\r\n", "-WRONGTYPE x\r\n", "*1\r\n$9\r\nshort\r\n", "*2\r\n:1\r\n:2\r\n", ""} {
		f.Add([]byte(seed), true)
	}
	reg, err := NewRegistry("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, reply []byte, set bool) {
		args := [][]byte{[]byte("DELEX"), []byte("k"), []byte("IFDEQ"), []byte("9555e8555c62dcfd")}
		if set {
			args = [][]byte{[]byte("SET"), []byte("k"), []byte("v"), []byte("IFDNE"), []byte("9555e8555c62dcfd"), []byte("GET")}
		}
		call, err := reg.Resolve(bytes.ToLower(args[0]), args, true)
		if err != nil || call.Then == nil {
			t.Fatalf("%q: %v", args, err)
		}
		next, final := call.Then(reply)
		if next == nil && final == nil {
			t.Fatalf("reply %q: neither a next step nor an answer", reply)
		}
		if next != nil && next.Then == nil {
			t.Fatalf("reply %q: a next step that cannot go on", reply)
		}
	})
}
