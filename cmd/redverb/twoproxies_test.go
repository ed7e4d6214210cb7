package main

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/redistest"
)

// Two redverb processes in front of one Redis, their clients interleaved:
// TRANSFER conserves money, LOCK never has two holders, and RATELIMIT
// admits no more than its limit, because each verb is atomic in Redis and
// no state lives in a proxy.
func TestTwoProxiesShareOneRedis(t *testing.T) {
	bin := build(t)
	r := redistest.StartRedis(t)
	var addrs [2]string
	for i := range addrs {
		_, addrs[i], _ = startBinary(t, bin, "--backend", r.URL(), "--log-level", "warn")
	}
	const accounts, initial = 5, 1000
	setup := redistest.Dial(t, addrs[0])
	for a := 0; a < accounts; a++ {
		setup.Do("SET", "{bank}"+strconv.Itoa(a), strconv.Itoa(initial))
	}

	const clients = 24
	var inside, overlaps, locked, admitted atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redistest.Dial(t, addrs[i%2])
			token := "holder-" + strconv.Itoa(i)
			for n := 0; n < 30; n++ {
				from, to := (i+n)%accounts, (i+2*n+1)%accounts
				if from != to {
					if got := c.Do("TRANSFER", "{bank}"+strconv.Itoa(from), "{bank}"+strconv.Itoa(to), strconv.Itoa(1+n%7)); got[0] == '-' &&
						!strings.Contains(got, "insufficient") {
						t.Errorf("TRANSFER: %q", got)
					}
				}
				if got := c.Do("LOCK", "mutex", token, "5000", "WAIT", "10000"); got != ":1\r\n" {
					t.Errorf("LOCK: %q", got)
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				locked.Add(1)
				time.Sleep(50 * time.Microsecond)
				inside.Add(-1)
				if got := c.Do("UNLOCK", "mutex", token); got != ":1\r\n" {
					t.Errorf("UNLOCK: %q", got)
				}
				if strings.HasPrefix(c.Do("RATELIMIT", "api", "100", "60000", "ALGO", "SLIDING"), "*4\r\n:1\r\n") {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()

	total := 0
	for a := 0; a < accounts; a++ {
		v, _ := strconv.Atoi(strings.Split(setup.Do("GET", "{bank}"+strconv.Itoa(a)), "\r\n")[1])
		if v < 0 {
			t.Errorf("account %d is negative: %d", a, v)
		}
		total += v
	}
	if total != accounts*initial {
		t.Errorf("money not conserved: %d, want %d", total, accounts*initial)
	}
	if overlaps.Load() != 0 || locked.Load() != clients*30 {
		t.Errorf("%d overlapping lock holders in %d lockings", overlaps.Load(), locked.Load())
	}
	if admitted.Load() != 100 {
		t.Errorf("RATELIMIT admitted %d of %d calls, want exactly the limit, 100", admitted.Load(), clients*30)
	}
}
