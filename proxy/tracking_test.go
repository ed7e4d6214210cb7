package proxy_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redverb/redverb/internal/redistest"
)

// CLIENT TRACKING through redverb gives a client the bytes Redis gives it:
// RESP3 invalidation pushes (also while the client is idle), BCAST with
// PREFIX, NOLOOP, OPTIN with CLIENT CACHING, and in RESP2 REDIRECT to a
// client subscribed to __redis__:invalidate.
func TestTrackingMatchesRedis(t *testing.T) {
	direct := redistest.StartRedis(t)
	behind := redistest.StartRedis(t)
	p := redistest.StartProxy(t, behind.URL(), redistest.WithVerbs(t, ""))
	idle := func(c *redistest.Conn) string { return c.ReadAll(200 * time.Millisecond) }
	scenarios := map[string]func(addr string) []string{
		"RESP3 default": func(addr string) []string {
			a, b := redistest.Dial(t, addr), redistest.Dial(t, addr)
			a.Do("HELLO", "3")
			out := []string{a.Do("CLIENT", "TRACKING", "ON"), a.Do("GET", "k"), a.Do("MGET", "k", "j")}
			b.Do("SET", "k", "1")
			out = append(out, idle(a)) // the push, while a is idle
			b.Do("SET", "k", "2")      // not read again since: nothing
			out = append(out, idle(a), a.Do("GET", "k"))
			b.Do("DEL", "k")
			a.Send("PING")
			out = append(out, idle(a)) // the push, then PONG
			out = append(out, a.Do("CLIENT", "TRACKING", "OFF"), a.Do("GET", "k"))
			b.Do("SET", "k", "3")
			return append(out, idle(a))
		},
		"BCAST PREFIX and NOLOOP": func(addr string) []string {
			a, b := redistest.Dial(t, addr), redistest.Dial(t, addr)
			a.Do("HELLO", "3")
			out := []string{a.Do("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "NOLOOP")}
			b.Do("SET", "user:1", "x")
			b.Do("SET", "other", "x")
			out = append(out, idle(a), a.Do("SET", "user:2", "mine"), idle(a))
			return append(out, a.Do("CLIENT", "TRACKINGINFO"))
		},
		"OPTIN and CACHING": func(addr string) []string {
			a, b := redistest.Dial(t, addr), redistest.Dial(t, addr)
			a.Do("HELLO", "3")
			out := []string{a.Do("CLIENT", "CACHING", "yes"), a.Do("CLIENT", "TRACKING", "ON", "OPTIN"),
				a.Do("GET", "x"), a.Do("CLIENT", "CACHING", "yes"), a.Do("GET", "y"), a.Do("CLIENT", "CACHING", "maybe")}
			b.Do("MSET", "x", "1", "y", "1")
			return append(out, idle(a), a.Do("CLIENT", "GETREDIR"))
		},
		"RESP2 REDIRECT": func(addr string) []string {
			a, b, sink := redistest.Dial(t, addr), redistest.Dial(t, addr), redistest.Dial(t, addr)
			id := strings.TrimSpace(sink.Do("CLIENT", "ID")[1:])
			out := []string{sink.Do("SUBSCRIBE", "__redis__:invalidate"),
				a.Do("CLIENT", "TRACKING", "ON", "REDIRECT", "999999"),
				a.Do("CLIENT", "TRACKING", "ON", "REDIRECT", id),
				a.Do("GET", "r")}
			b.Do("SET", "r", "1")
			out = append(out, idle(sink), strings.Replace(a.Do("CLIENT", "GETREDIR"), ":"+id+"\r\n", ":<sink>\r\n", 1))
			ti := a.Do("CLIENT", "TRACKINGINFO")
			return append(out, strings.Replace(ti, ":"+id+"\r\n", ":<sink>\r\n", 1))
		},
		"RESP3 REDIRECT to a client that does not subscribe": func(addr string) []string {
			a, b, sink := redistest.Dial(t, addr), redistest.Dial(t, addr), redistest.Dial(t, addr)
			sink.Do("HELLO", "3")
			id := strings.TrimSpace(sink.Do("CLIENT", "ID")[1:])
			out := []string{a.Do("CLIENT", "TRACKING", "ON", "REDIRECT", id), a.Do("GET", "p")}
			b.Do("SET", "p", "1")
			out = append(out, idle(sink)) // the push, while the sink is idle
			return append(out, sink.Do("PING"), a.Do("GET", "p"))
		},
		"HELLO 3 while tracking": func(addr string) []string {
			a, b := redistest.Dial(t, addr), redistest.Dial(t, addr)
			out := []string{a.Do("CLIENT", "TRACKING", "ON")}
			out = append(out, fmt.Sprint(strings.Contains(a.Do("HELLO", "3"), "$5\r\nproto\r\n:3\r\n")), a.Do("GET", "h"))
			b.Do("SET", "h", "1")
			return append(out, idle(a), a.Do("CLIENT", "TRACKINGINFO"))
		},
		"RESP2 REDIRECT to a client that subscribes later": func(addr string) []string {
			a, b, sink := redistest.Dial(t, addr), redistest.Dial(t, addr), redistest.Dial(t, addr)
			id := strings.TrimSpace(sink.Do("CLIENT", "ID")[1:])
			out := []string{a.Do("CLIENT", "TRACKING", "ON", "REDIRECT", id), a.Do("GET", "r"),
				sink.Do("SUBSCRIBE", "__redis__:invalidate")}
			b.Do("SET", "r", "1")
			return append(out, idle(sink), strings.Replace(a.Do("CLIENT", "GETREDIR"), ":"+id+"\r\n", ":<sink>\r\n", 1))
		},
	}
	for name, run := range scenarios {
		t.Run(name, func(t *testing.T) {
			for _, c := range []string{direct.Addr(), behind.Addr()} {
				redistest.Dial(t, c).Do("FLUSHALL")
			}
			want, got := run(direct.Addr()), run(p.Addr())
			for i := range want {
				if want[i] != got[i] {
					t.Errorf("step %d:\n redis: %q\n proxy: %q", i, want[i], got[i])
				}
			}
		})
	}
}

// go-redis's client-side cache through redverb: reads are served from the
// cache (the backend sees no more GETs), and every write by another client
// reaches the cache as an invalidation.
func TestClientSideCacheThroughProxy(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL())
	ctx := context.Background()
	cached := redis.NewClient(&redis.Options{Addr: p.Addr(), Protocol: 3, PoolSize: 2,
		ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxEntries: 1000, DrainInterval: 10 * time.Millisecond}})
	defer cached.Close()
	writer := redis.NewClient(&redis.Options{Addr: p.Addr()})
	defer writer.Close()
	gets := func() int {
		stats := string(redistest.Command(r.Addr(), "INFO", "commandstats"))
		_, after, _ := strings.Cut(stats, "cmdstat_get:calls=")
		n, _ := strconv.Atoi(after[:strings.IndexByte(after, ',')])
		return n
	}
	for round := 0; round < 20; round++ {
		want := fmt.Sprint("v", round)
		if err := writer.Set(ctx, "cached", want, 0).Err(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, err := cached.Get(ctx, "cached").Result()
			if err == nil && got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the cache still says %q (%v) 5s after the write of %q", round, got, err, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		before := gets()
		for i := 0; i < 20; i++ {
			if got, _ := cached.Get(ctx, "cached").Result(); got != want {
				t.Fatalf("round %d: %q then %q with no write between", round, want, got)
			}
		}
		if after := gets(); after != before {
			t.Fatalf("round %d: 20 cached reads reached the backend %d times", round, after-before)
		}
	}
}
