package keyslot

import "testing"

// Expected slots are what CLUSTER KEYSLOT answers on Redis.
func TestSlot(t *testing.T) {
	cases := map[string]int{
		"foo":                  12182,
		"bar":                  5061,
		"{user1000}.following": 3443,
		"{user1000}.followers": 3443,
		"foo{}{bar}":           8363,
		"foo{{bar}}zap":        4015,
		"foo{bar}{zap}":        5061,
		"":                     0,
	}
	for key, want := range cases {
		if got := Slot([]byte(key)); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
	if !SameSlot([][]byte{[]byte("{a}1"), []byte("{a}2")}) || SameSlot([][]byte{[]byte("foo"), []byte("bar")}) {
		t.Error("SameSlot")
	}
}
