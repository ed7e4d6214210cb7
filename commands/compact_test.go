package commands

import (
	"strings"
	"testing"
)

func TestCompactScript(t *testing.T) {
	prelude := "-- helpers\nlocal function a(x)\n  return b(x)\nend\n\nlocal function b(x)\n  -- inner\n  return x\nend\n\nlocal function c(x)\n  return x\nend\n"
	src := "-- verb: X\n-- keys: 1\nreturn a(KEYS[1]) -- trailing comments stay\n"
	got := compactScript(prelude, src)
	want := "local function a(x)\n  return b(x)\nend\nlocal function b(x)\n  return x\nend\nreturn a(KEYS[1]) -- trailing comments stay\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// Every built-in keeps what it calls, and gets much shorter.
	for name, v := range Builtins() {
		if len(v.Compact) >= len(v.Script) || strings.Contains(v.Compact, "\n--") {
			t.Errorf("%s: compact script of %d bytes from %d", name, len(v.Compact), len(v.Script))
		}
	}
}
