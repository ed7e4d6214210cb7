package slotsplit

import (
	"strings"
	"testing"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/resp"
)

func fields(s string) [][]byte {
	var args [][]byte
	for _, f := range strings.Fields(s) {
		args = append(args, []byte(f))
	}
	return args
}

func TestSpansSlots(t *testing.T) {
	for call, want := range map[string]bool{
		"MGET a":             false,
		"MGET {x}a {x}b":     false,
		"MGET a b":           keyslot.Slot([]byte("a")) != keyslot.Slot([]byte("b")),
		"MSET a 1 b 2":       true,
		"MSET {x}a 1 {x}b 2": false,
		"MSET a 1 b":         false, // malformed: Redis's own error
		"MGET":               false,
	} {
		st := MGet
		if strings.HasPrefix(call, "MSET") {
			st = MSet
		}
		if got := st.SpansSlots(fields(call)); got != want {
			t.Errorf("%q spans slots: %v, want %v", call, got, want)
		}
	}
	if MSet.WellFormed(fields("MSET a 1 b")) || !MSet.WellFormed(fields("MSET a 1")) || !MSet.WellFormed(fields("MSET")) {
		t.Error("MSET's pairs are not checked")
	}
}

// MGET split per slot and merged gives the values in the order of the
// keys, with the client's null for a missing one.
func TestSplitAndMergeMGet(t *testing.T) {
	args := fields("MGET {a}1 {b}1 {a}2 {c}1")
	cmds, slots, keysOf := MGet.Split(args)
	if len(cmds) != 3 || len(slots) != 3 {
		t.Fatalf("%d commands for 3 slots: %q", len(cmds), cmds)
	}
	var parts [][]byte
	for i, c := range cmds {
		if slots[i] != keyslot.Slot(c[1]) || string(c[0]) != "MGET" {
			t.Fatalf("command %q for slot %d", c, slots[i])
		}
		part := resp.AppendHeader(nil, '*', len(c)-1)
		for _, k := range c[1:] {
			if string(k) == "{c}1" {
				part = append(part, "$-1\r\n"...)
			} else {
				part = resp.AppendBulk(part, "v"+string(k))
			}
		}
		parts = append(parts, part)
	}
	got := string(MGet.Merge(parts, keysOf, 4, []byte("_\r\n")))
	want := "*4\r\n$5\r\nv{a}1\r\n$5\r\nv{b}1\r\n$5\r\nv{a}2\r\n$-1\r\n"
	if got != want {
		t.Fatalf("merged %q, want %q", got, want)
	}
}

func TestMergeCountAndOK(t *testing.T) {
	if got := string(Count.Merge([][]byte{[]byte(":2\r\n"), []byte(":1\r\n")}, nil, 3, nil)); got != ":3\r\n" {
		t.Errorf("DEL merged %q", got)
	}
	cmds, _, keysOf := MSet.Split(fields("MSET {a}k 1 {b}k 2 {a}j 3"))
	if len(cmds) != 2 || len(cmds[0]) != 5 || keysOf[0][1] != 2 {
		t.Errorf("MSET split %q, keys %v", cmds, keysOf)
	}
	if got := string(MSet.Merge(nil, nil, 3, nil)); got != "+OK\r\n" {
		t.Errorf("MSET merged %q", got)
	}
}
