package proxy

import "testing"

func TestMayMatchServerChannel(t *testing.T) {
	for _, tc := range []struct {
		channel string
		pattern bool
		want    bool
	}{
		{"__keyspace@0__:k", false, true},
		{"__keyevent@0__:set", false, true},
		{"__keyspace@", false, true},
		{"__keyspace", false, false}, // a channel names itself only
		{"news", false, false},
		{"*", true, true},
		{"__key*", true, true},
		{"__keyspace@0__:*", true, true},
		{"__k?yspace@*", true, true},
		{"[_]*", true, true},
		{"news.*", true, false},
		{"__keyspacex*", true, false},
		{"", true, false}, // matches only the empty channel
		{"__redis__:invalidate", false, true},
		{"__redis__:*", true, true},
		{"__redis__:invalidatex", false, false},
	} {
		if got := mayMatchServerChannel([]byte(tc.channel), tc.pattern); got != tc.want {
			t.Errorf("mayMatchServerChannel(%q, pattern=%v) = %v, want %v", tc.channel, tc.pattern, got, tc.want)
		}
	}
}

func TestIsServerMessage(t *testing.T) {
	for frame, want := range map[string]bool{
		"*3\r\n$7\r\nmessage\r\n$16\r\n__keyspace@0__:k\r\n$3\r\nset\r\n":             true,
		">3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:set\r\n$1\r\nk\r\n":             true,
		"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$16\r\n__keyspace@0__:k\r\n$3\r\nset\r\n": true,
		"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$4\r\nnews\r\n$2\r\nhi\r\n":               false,
		"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n":                           false,
		"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n":                                false,
		"*3\r\n$9\r\nsubscribe\r\n$16\r\n__keyspace@0__:k\r\n:1\r\n":                  false,
		"+PONG\r\n": false,
	} {
		if got := isServerMessage([]byte(frame)); got != want {
			t.Errorf("isServerMessage(%q) = %v, want %v", frame, got, want)
		}
	}
}
