package main

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redverb/redverb/internal/redistest"
)

// TestAgainstRedis7: the program's calls, through redverb in front of the
// Redis on this machine (7.0 in CI, which has none of these commands).
func TestAgainstRedis7(t *testing.T) {
	r := redistest.StartRedis(t)
	p := redistest.StartProxy(t, r.URL(), redistest.WithVerbs(t, ""))
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr()})
	defer rdb.Close()
	if err := run(context.Background(), rdb); err != nil {
		t.Fatal(err)
	}
}
