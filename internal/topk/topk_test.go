package topk

import (
	"fmt"
	"math"
	"math/rand"
	"sync"
	"testing"
	"time"
)

var epoch = time.Unix(1_700_000_000, 0)

// With no more keys than its capacity the sketch counts exactly, and a
// steady rate reads back as that rate once the counts have settled.
func TestExactBelowCapacity(t *testing.T) {
	s := New(10, time.Second)
	// 100 requests/s for "a", 10/s for "b", over 20 half-lives.
	for ms := 0; ms < 20_000; ms += 10 {
		now := epoch.Add(time.Duration(ms) * time.Millisecond)
		s.Add([]byte("a"), now)
		if ms%100 == 0 {
			s.Add([]byte("b"), now)
		}
	}
	top := s.Top(5, epoch.Add(20*time.Second))
	if len(top) != 2 || top[0].Key != "a" || top[1].Key != "b" {
		t.Fatalf("top: %+v", top)
	}
	for _, c := range []struct {
		e    Entry
		rate float64
	}{{top[0], 100}, {top[1], 10}} {
		if math.Abs(c.e.Rate-c.rate)/c.rate > 0.05 || c.e.Error != 0 {
			t.Errorf("%s: rate %.2f ± %.2f, want %v exactly counted", c.e.Key, c.e.Rate, c.e.Error, c.rate)
		}
	}
}

// A Zipf stream over far more keys than the capacity: the sketch holds no
// more than its capacity, finds the true top keys in order, and every
// estimate bounds the true count from above within its error.
func TestZipfTopKeys(t *testing.T) {
	const keys, capacity, n = 100_000, 200, 300_000
	s := New(capacity, time.Hour) // no fading within the test
	rng := rand.New(rand.NewSource(1))
	zipf := rand.NewZipf(rng, 1.1, 1, keys-1)
	truth := map[uint64]int{}
	now := epoch
	for i := 0; i < n; i++ {
		k := zipf.Uint64()
		truth[k]++
		s.Add([]byte(fmt.Sprint("key:", k)), now)
	}
	if s.Len() > capacity {
		t.Fatalf("counts %d keys, capacity %d", s.Len(), capacity)
	}
	tau := time.Hour.Seconds() / math.Ln2
	for i, e := range s.Top(10, now) {
		if want := fmt.Sprint("key:", i); e.Key != want {
			t.Errorf("rank %d: %s, want %s", i, e.Key, want)
		}
	}
	for _, e := range s.Top(capacity, now) {
		var k uint64
		fmt.Sscan(e.Key[len("key:"):], &k)
		count, lo := e.Rate*tau, (e.Rate-e.Error)*tau
		if real := float64(truth[k]); real > count+1e-6 || real < lo-1e-6 {
			t.Errorf("%s: true count %v outside [%v, %v]", e.Key, real, lo, count)
		}
	}
}

// Counts fade: a key that was hot long ago ranks below one hot now, and
// its rate falls by half each half-life.
func TestRatesFade(t *testing.T) {
	s := New(10, time.Second)
	for ms := 0; ms < 5000; ms++ {
		s.Add([]byte("old"), epoch.Add(time.Duration(ms)*time.Millisecond)) // 1000/s for 5s
	}
	for ms := 5000; ms < 10_000; ms += 10 {
		s.Add([]byte("new"), epoch.Add(time.Duration(ms)*time.Millisecond)) // 100/s for the next 5s
	}
	top := s.Top(2, epoch.Add(10*time.Second))
	if top[0].Key != "new" {
		t.Fatalf("after 5 half-lives the old key still leads: %+v", top)
	}
	// 5 half-lives after it stopped, "old" reads about 1000/32.
	if got := top[1].Rate; got < 1000.0/32*0.9 || got > 1000.0/32*1.1 {
		t.Errorf("old key's rate %.1f, want about %.1f", got, 1000.0/32)
	}
}

// Counts stay finite and ordered over far more than maxExponent time
// constants (the origin is moved forward).
func TestLongRunRebases(t *testing.T) {
	s := New(4, time.Millisecond)
	now := epoch
	for i := 0; i < 10_000; i++ {
		now = now.Add(time.Millisecond)
		s.Add([]byte("steady"), now)
	}
	top := s.Top(1, now)
	if len(top) != 1 || math.IsInf(top[0].Rate, 0) || math.IsNaN(top[0].Rate) || top[0].Rate < 500 || top[0].Rate > 2000 {
		t.Fatalf("after 10,000 time constants: %+v (want about 1000/s)", top)
	}
}

// Concurrent adders never exceed the capacity and lose no count of a key
// that stays counted (run with -race).
func TestConcurrentAdds(t *testing.T) {
	s := New(8, time.Hour)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10_000; i++ {
				s.Add([]byte("hot"), epoch)
				s.Add([]byte(fmt.Sprint("cold:", g, ":", i)), epoch)
			}
		}()
	}
	wg.Wait()
	top := s.Top(1, epoch)
	tau := time.Hour.Seconds() / math.Ln2
	if s.Len() > 8 || top[0].Key != "hot" || math.Abs(top[0].Rate*tau-80_000) > top[0].Error*tau+1e-6 {
		t.Fatalf("len %d, top %+v (want hot with 80,000 requests)", s.Len(), top)
	}
}

// Counting a key already counted allocates nothing.
func TestAddCountedKeyDoesNotAllocate(t *testing.T) {
	s := New(4, time.Second)
	key := []byte("k")
	s.Add(key, epoch)
	if n := testing.AllocsPerRun(1000, func() { s.Add(key, epoch) }); n != 0 {
		t.Fatalf("%v allocations per Add of a counted key", n)
	}
}

func BenchmarkAddZipf(b *testing.B) {
	s := New(1024, 10*time.Second)
	zipf := rand.NewZipf(rand.New(rand.NewSource(1)), 0.99+0.02, 1, 99_999)
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = []byte(fmt.Sprint("key:", zipf.Uint64()))
	}
	b.ReportAllocs()
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		s.Add(keys[i%len(keys)], now)
	}
}

func TestHitRatios(t *testing.T) {
	s := New(4, time.Minute)
	now := time.Unix(1000, 0)
	for i := 0; i < 100; i++ {
		o := Miss
		if i%4 != 0 {
			o = Hit
		}
		s.AddOutcome([]byte("cached"), now, o)
		s.Add([]byte("written"), now)
	}
	for _, e := range s.Top(2, now) {
		want := map[string]float64{"cached": 0.75, "written": -1}[e.Key]
		if math.Abs(e.HitRatio-want) > 1e-9 {
			t.Errorf("%s: hit ratio %v, want %v", e.Key, e.HitRatio, want)
		}
	}
}
