package proxy_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redverb/redverb/internal/redistest"
)

// An unmodified go-redis v9 client (RESP3 by default, CLIENT SETINFO on
// connect, pipelines and transactions) works through the proxy.
func TestGoRedisClient(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, ""))
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr()})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rdb.HSet(ctx, "h", "a", 1, "b", 2).Result(); err != nil || v != 2 {
		t.Fatal(v, err)
	}
	if m, err := rdb.HGetAll(ctx, "h").Result(); err != nil || m["b"] != "2" {
		t.Fatal(m, err)
	}
	cmds, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Incr(ctx, "n")
		pipe.Incr(ctx, "n")
		return nil
	})
	if err != nil || cmds[1].(*redis.IntCmd).Val() != 2 {
		t.Fatal(cmds, err)
	}
	if v, err := rdb.Do(ctx, "CAS", "k", "v", "w").Int(); err != nil || v != 1 {
		t.Fatal(v, err)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "w" {
		t.Fatal(v, err)
	}
	if _, err := rdb.Get(ctx, "missing").Result(); err != redis.Nil {
		t.Fatalf("missing key: %v", err)
	}
}
