package scancursor

import (
	"strings"
	"testing"
)

// A full iteration over three servers runs each server's own scan to its
// end, in order, each asked with the cursor it gave last, and ends at 0.
func TestIteration(t *testing.T) {
	answers := [][]uint64{{17, 4, 0}, {0}, {9, 0}} // each server's cursors, in the order it gives them
	asked := make([]int, len(answers))
	var visited strings.Builder
	for cursor, step := uint64(0), 0; step < 10; step++ {
		server, own := Decode(cursor)
		if want := uint64(0); asked[server] > 0 {
			want = answers[server][asked[server]-1]
			if own != want {
				t.Fatalf("server %d asked with %d, want %d", server, own, want)
			}
		}
		next := answers[server][asked[server]]
		asked[server]++
		visited.WriteByte(byte('a' + server))
		if cursor = Next(server, len(answers), next); cursor == 0 {
			break
		}
	}
	if visited.String() != "aaabcc" {
		t.Fatalf("visited %s, want aaabcc", visited.String())
	}
}

func TestDecodeNextRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		server int
		own    uint64
	}{{0, 5}, {3, 1 << 40}, {MaxServers - 1, 1}} {
		if s, o := Decode(Next(tc.server, MaxServers, tc.own)); s != tc.server || o != tc.own {
			t.Errorf("round trip of %d/%d: %d/%d", tc.server, tc.own, s, o)
		}
	}
}
