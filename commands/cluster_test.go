package commands_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/redistest"
)

// On a cluster-enabled backend, a verb whose keys span slots is refused
// with Redis Cluster's own error before it reaches the backend; keys that
// share a hash tag go through (this single node owns no slots, so the
// backend answers CLUSTERDOWN, which proves the call was sent).
func TestCrossSlotRefusedOnCluster(t *testing.T) {
	r := redistest.StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, ""))
	c := redistest.Dial(t, p.Addr())
	expectDo(t, c, []string{"TRANSFER", "alice", "bob", "5"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n")
	expectDo(t, c, []string{"TRANSFER", "{u1}:a", "{u1}:b", "5", "ONCE", "{u2}:r", "60"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n")
	if got := c.Do("TRANSFER", "{u1}:a", "{u1}:b", "5"); !strings.HasPrefix(got, "-CLUSTERDOWN") {
		t.Fatalf("same-slot keys: %q, want the backend's CLUSTERDOWN", got)
	}
	// LOCK ... FENCE adds a counter key, which must share the lock's slot
	// whatever braces the lock's name holds.
	for _, key := range []string{"plain", "{u1}:lock", "a}b", "{}x", "x}{y", "a{b"} {
		if got := c.Do("LOCK", key, "t", "1000", "FENCE"); !strings.HasPrefix(got, "-CLUSTERDOWN") {
			t.Errorf("LOCK %q FENCE: %q, want the backend's CLUSTERDOWN", key, got)
		}
	}
	// Key slots as the node itself computes them.
	for _, key := range []string{"foo", "bar", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}"} {
		want := c.Do("CLUSTER", "KEYSLOT", key)
		if got := slotOf(key); got != want {
			t.Errorf("slot of %q: keyslot says %q, Redis %q", key, got, want)
		}
	}
}

func slotOf(key string) string { return ":" + strconv.Itoa(keyslot.Slot([]byte(key))) + "\r\n" }
