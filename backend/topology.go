package backend

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redverb/redverb/internal/keyslot"
)

// A topology says which server serves a slot. A standalone backend is one
// server for every slot; Sentinel's is one master that moves on failover;
// Redis Cluster's is a slot map. go-redis discovers and refreshes the
// latter two; the proxy never keeps a slot map of its own beyond the
// redirects Redis has just told it about.
type topology interface {
	// master is the address of the master serving slot; slot < 0 asks for
	// any master (keyless commands).
	master(slot int) (string, error)
	// replica is a replica serving slot for reads, or the master if none.
	replica(slot int) (string, error)
	// masters lists every master, in a stable order (by address).
	masters() ([]string, error)
	// servers lists every master and replica, in a stable order.
	servers() ([]string, error)
	// moved records a MOVED redirect, or with addr empty, a reply that
	// shows the map is stale (a demoted master's -READONLY).
	moved(slot int, addr string)
	close()
}

// standalone is one Redis server.
type standalone struct{ addr string }

func (t standalone) master(int) (string, error)  { return t.addr, nil }
func (t standalone) replica(int) (string, error) { return t.addr, nil }
func (t standalone) masters() ([]string, error)  { return []string{t.addr}, nil }
func (t standalone) servers() ([]string, error)  { return []string{t.addr}, nil }
func (t standalone) moved(int, string)           {}
func (t standalone) close()                      {}

// movedFor is how long a MOVED redirect overrides go-redis's slot map:
// long enough for go-redis to reload its map, which it starts on the
// first redirect.
const movedFor = 2 * time.Second

// slotMap is a topology from a go-redis ClusterClient: for Redis Cluster
// its own client, for Sentinel its failover client (one shard holding
// every slot, whose master moves on +switch-master).
type slotMap struct {
	cc *redis.ClusterClient

	mu        sync.Mutex
	redirect  map[int]redirect
	redirects atomic.Int32 // len(redirect), read without the lock
}

type redirect struct {
	addr string
	at   time.Time
}

// slotKeys holds one key per slot, to ask go-redis about a slot through
// its key-based API.
var slotKeys = func() (keys [16384]string) {
	missing := len(keys)
	for i := 0; missing > 0; i++ {
		k := strconv.Itoa(i)
		if s := keyslot.Slot([]byte(k)); keys[s] == "" {
			keys[s] = k
			missing--
		}
	}
	return keys
}()

func newSlotMap(cc *redis.ClusterClient) *slotMap {
	return &slotMap{cc: cc, redirect: map[int]redirect{}}
}

func (t *slotMap) master(slot int) (string, error) { return t.serving(slot, t.cc.MasterForKey) }

func (t *slotMap) replica(slot int) (string, error) { return t.serving(slot, t.cc.SlaveForKey) }

// serving is the address of the server forKey picks for slot, unless a
// redirect names another one.
func (t *slotMap) serving(slot int, forKey func(context.Context, string) (*redis.Client, error)) (string, error) {
	slot = max(slot, 0)
	if addr := t.redirected(slot); addr != "" {
		return addr, nil
	}
	c, err := forKey(context.Background(), slotKeys[slot])
	if err != nil {
		return "", err
	}
	return c.Options().Addr, nil
}

func (t *slotMap) redirected(slot int) string {
	if t.redirects.Load() == 0 {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.redirect[slot]
	if ok && time.Since(r.at) > movedFor {
		delete(t.redirect, slot)
		t.redirects.Store(int32(len(t.redirect)))
		return ""
	}
	return r.addr
}

func (t *slotMap) masters() ([]string, error) { return t.each(t.cc.ForEachMaster) }

func (t *slotMap) servers() ([]string, error) { return t.each(t.cc.ForEachShard) }

// each lists the addresses of the servers forEach visits, sorted.
func (t *slotMap) each(forEach func(context.Context, func(context.Context, *redis.Client) error) error) ([]string, error) {
	var mu sync.Mutex
	var addrs []string
	err := forEach(context.Background(), func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		addrs = append(addrs, c.Options().Addr)
		mu.Unlock()
		return nil
	})
	slices.Sort(addrs)
	return addrs, err
}

func (t *slotMap) moved(slot int, addr string) {
	if addr != "" {
		t.mu.Lock()
		t.redirect[slot] = redirect{addr: addr, at: time.Now()}
		t.redirects.Store(int32(len(t.redirect)))
		t.mu.Unlock()
	}
	t.cc.ReloadState(context.Background())
}

func (t *slotMap) close() { t.cc.Close() }
