package stats

import (
	"testing"
	"time"
)

func TestNamedIsOnePerName(t *testing.T) {
	var st Stats
	get := st.Named("get")
	if st.Named("get") != get || st.Named("set") == get {
		t.Fatal("Named does not give one CommandStats per name")
	}
	if _, ok := st.Commands()["other"]; !ok || len(st.Commands()) != 3 {
		t.Fatalf("Commands: %v", st.Commands())
	}
}

func TestObserveBuckets(t *testing.T) {
	var c CommandStats
	c.Observe(30 * time.Microsecond) // <= 50µs
	c.Observe(2 * time.Millisecond)  // <= 2.5ms
	c.Observe(time.Minute)           // +Inf
	if c.Calls.Load() != 3 || c.Buckets[0].Load() != 1 || c.Buckets[5].Load() != 1 || c.Buckets[len(LatencyBuckets)].Load() != 1 {
		t.Fatalf("calls %d, buckets %v", c.Calls.Load(), &c.Buckets)
	}
	if c.Nanos.Load() != int64(30*time.Microsecond+2*time.Millisecond+time.Minute) {
		t.Fatalf("nanos %d", c.Nanos.Load())
	}
}
