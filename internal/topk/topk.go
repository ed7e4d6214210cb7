// Package topk finds the most requested keys of a stream in bounded
// memory, with counts that fade so that they estimate recent rates.
//
// It is the Space-Saving algorithm (Metwally, Agrawal, El Abbadi, 2005):
// at most Capacity keys are counted; a key not among them takes the place
// of the least counted one and inherits its count as its possible error.
// A key seen more than 1/Capacity of the time is always among them, and a
// counted key's true weight lies between Count-Error and Count.
//
// Counts fade by forward decay (Cormode, Shkapenyuk, Srivastava, Xu, 2009):
// an arrival at time t weighs exp((t-t0)/tau) instead of 1, which keeps
// every count's ratio to the others exactly as if all counts were scaled
// down continuously, so the algorithm's ordering and bounds still hold.
// Reading divides by the weight of "now", giving a rate per second.
package topk

import (
	"container/heap"
	"math"
	"sort"
	"sync"
	"time"
)

// Sketch counts keys. Its zero value is not usable; use New. It is safe
// for concurrent use.
type Sketch struct {
	mu       sync.Mutex
	capacity int
	tau      float64 // seconds for a count to fade by a factor e
	t0       time.Time
	items    map[string]*item
	order    minHeap // items by count, least first
}

type item struct {
	key     string
	count   float64 // forward-decayed weight
	err     float64 // weight it may have inherited
	lookups float64 // of count, the requests that looked a cache up (decayed alike)
	hits    float64 // of lookups, those the cache answered
	index   int     // in the heap
}

// An Entry is one of the top keys.
type Entry struct {
	Key   string
	Rate  float64 // estimated requests per second, recently
	Error float64 // the rate may be over-estimated by up to this much
	// HitRatio is the share of the key's cache lookups that hit, since it
	// was last counted; -1 if none looked the cache up.
	HitRatio float64
}

// New returns a sketch that counts at most capacity keys, whose counts
// fade with the given half-life. If capacity is zero or less, 1024; if
// halfLife is zero or less, 10s.
func New(capacity int, halfLife time.Duration) *Sketch {
	if capacity <= 0 {
		capacity = 1024
	}
	if halfLife <= 0 {
		halfLife = 10 * time.Second
	}
	return &Sketch{
		capacity: capacity,
		tau:      halfLife.Seconds() / math.Ln2,
		items:    make(map[string]*item, capacity),
	}
}

// maxExponent bounds the forward-decay exponent before every count is
// scaled back: e^60 keeps float64 far from overflow and precision loss.
const maxExponent = 60

// Outcome is what a counted request did with a cache.
type Outcome uint8

const (
	NoLookup Outcome = iota // did not look a cache up
	Miss
	Hit
)

// Add counts one request for key at now.
func (s *Sketch) Add(key []byte, now time.Time) { s.AddOutcome(key, now, NoLookup) }

// AddOutcome counts one request for key at now, and what it did with a
// cache.
func (s *Sketch) AddOutcome(key []byte, now time.Time, o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t0.IsZero() {
		s.t0 = now
	}
	x := now.Sub(s.t0).Seconds() / s.tau
	if x > maxExponent {
		s.rebase(now)
		x = 0
	}
	w := math.Exp(x)
	it, ok := s.items[string(key)] // no allocation for the lookup
	switch {
	case ok:
		it.count += w
		heap.Fix(&s.order, it.index)
	case len(s.items) < s.capacity:
		it = &item{key: string(key), count: w}
		s.items[it.key] = it
		heap.Push(&s.order, it)
	default:
		it = s.order[0]
		delete(s.items, it.key)
		it.key, it.err, it.lookups, it.hits = string(key), it.count, 0, 0
		it.count += w
		s.items[it.key] = it
		heap.Fix(&s.order, 0)
	}
	if o != NoLookup {
		it.lookups += w
	}
	if o == Hit {
		it.hits += w
	}
}

// rebase moves t0 to now, scaling every count to the new origin.
func (s *Sketch) rebase(now time.Time) {
	f := math.Exp(-now.Sub(s.t0).Seconds() / s.tau)
	for _, it := range s.order {
		it.count *= f
		it.err *= f
		it.lookups *= f
		it.hits *= f
	}
	s.t0 = now
}

// Top returns up to n keys, most requested first, with their rates at
// now.
func (s *Sketch) Top(n int, now time.Time) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := append([]*item(nil), s.order...)
	sort.Slice(items, func(i, j int) bool {
		if items[i].count != items[j].count {
			return items[i].count > items[j].count
		}
		return items[i].key < items[j].key
	})
	if n < len(items) {
		items = items[:n]
	}
	// A weight w at now stands for a rate of w/tau per second once scaled
	// to now's own weight.
	scale := math.Exp(-now.Sub(s.t0).Seconds()/s.tau) / s.tau
	top := make([]Entry, len(items))
	for i, it := range items {
		top[i] = Entry{Key: it.key, Rate: it.count * scale, Error: it.err * scale, HitRatio: -1}
		if it.lookups > 0 {
			top[i].HitRatio = it.hits / it.lookups
		}
	}
	return top
}

// Len reports how many keys the sketch counts now.
func (s *Sketch) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// minHeap orders items by count, least first.
type minHeap []*item

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i].count < h[j].count }
func (h minHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *minHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *minHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
