// Command goredis uses Redis 8.4's compare-and-set commands through go-redis
// v9 against redverb, which answers them on any backend: against Redis 7 it
// runs its stand-ins, against Redis 8.4 the backend's own commands.
//
//	go run ./examples/goredis --addr 127.0.0.1:6380
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeebo/xxh3"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "redverb's address")
	flag.Parse()
	rdb := redis.NewClient(&redis.Options{Addr: *addr})
	defer rdb.Close()
	if err := run(context.Background(), rdb); err != nil {
		fmt.Fprintln(os.Stderr, "goredis:", err)
		os.Exit(1)
	}
	fmt.Println("ok: SetIFEQ, SetIFDEQ, Digest, DelExArgs, MSetEX and HGetDel answered as Redis 8.4 does")
}

// run walks through an optimistic update and the other new commands,
// checking every answer; keys start with "goredis:".
func run(ctx context.Context, rdb *redis.Client) error {
	check := func(what string, got, want any, err error) error {
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%s: got %v, want %v", what, got, want)
		}
		return nil
	}
	const key = "goredis:config"
	steps := []func() error{
		func() error { return rdb.Set(ctx, key, "v1", 0).Err() },
		// Compare-and-set on the value: only the writer who read v1 wins.
		func() error {
			r, err := rdb.SetIFEQ(ctx, key, "v2", "v1", time.Minute).Result()
			return check("SetIFEQ v1", r, "OK", err)
		},
		func() error {
			r, err := rdb.SetIFEQ(ctx, key, "v3", "v1", 0).Result()
			return check("SetIFEQ stale", r, "", err)
		},
		// Compare-and-set on the digest, computed client-side as Redis does.
		func() error {
			d, err := rdb.Digest(ctx, key).Result()
			return check("Digest", d, xxh3.HashString("v2"), err)
		},
		func() error {
			r, err := rdb.SetIFDEQ(ctx, key, "v3", xxh3.HashString("v2"), 0).Result()
			return check("SetIFDEQ", r, "OK", err)
		},
		func() error {
			r, err := rdb.SetIFDEQ(ctx, key, "v4", xxh3.HashString("v2"), 0).Result()
			return check("SetIFDEQ stale", r, "", err)
		},
		// Compare-and-delete.
		func() error {
			n, err := rdb.DelExArgs(ctx, key, redis.DelExArgs{Mode: "IFEQ", MatchValue: "v2"}).Result()
			return check("DelExArgs IFEQ stale", n, int64(0), err)
		},
		func() error {
			n, err := rdb.DelExArgs(ctx, key, redis.DelExArgs{Mode: "IFDEQ", MatchDigest: xxh3.HashString("v3")}).Result()
			return check("DelExArgs IFDEQ", n, int64(1), err)
		},
		// Several keys with one expiry, only if none exists.
		func() error {
			n, err := rdb.MSetEX(ctx, redis.MSetEXArgs{Condition: redis.NX, Expiration: &redis.ExpirationOption{Mode: redis.EX, Value: 60}},
				"goredis:{s}a", "1", "goredis:{s}b", "2").Result()
			return check("MSetEX NX", n, int64(1), err)
		},
		func() error {
			n, err := rdb.MSetEX(ctx, redis.MSetEXArgs{Condition: redis.NX}, "goredis:{s}a", "3", "goredis:{s}c", "4").Result()
			return check("MSetEX NX again", n, int64(0), err)
		},
		func() error {
			ttl, err := rdb.TTL(ctx, "goredis:{s}b").Result()
			return check("TTL after MSetEX", ttl, time.Minute, err)
		},
		// Read and remove hash fields at once.
		func() error { return rdb.HSet(ctx, "goredis:h", "a", "1", "b", "2").Err() },
		func() error {
			vals, err := rdb.HGetDel(ctx, "goredis:h", "a", "missing").Result()
			return check("HGetDel", vals, []string{"1", ""}, err)
		},
		func() error {
			n, err := rdb.HLen(ctx, "goredis:h").Result()
			return check("HLen after HGetDel", n, int64(1), err)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
