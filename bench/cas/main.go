// Command cas measures compare-and-set under contention on a few keys. Each
// operation is "set key to new if it holds expected" with a definite
// answer (swapped or not). Through redverb that is one CAS call. Without
// it, a client does it optimistically against Redis: WATCH key, GET key,
// compare, MULTI, SET, EXEC, and starts over when EXEC aborts because
// another client touched the key. It prints completed operations per
// second for each.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	direct := flag.String("direct", "127.0.0.1:6379", "redis-server address")
	proxy := flag.String("proxy", "127.0.0.1:6380", "redverb address")
	clients := flag.Int("clients", 50, "concurrent clients")
	keys := flag.Int("keys", 10, "keys under contention")
	duration := flag.Duration("duration", 5*time.Second, "length of each run")
	flag.Parse()

	optimistic := run(*direct, *clients, *keys, *duration, optimisticCAS)
	verb := run(*proxy, *clients, *keys, *duration, verbCAS)
	fmt.Printf("optimistic WATCH/GET/MULTI/SET/EXEC (direct): %10.0f CAS/s\n", optimistic)
	fmt.Printf("CAS verb (via redverb):                       %10.0f CAS/s\n", verb)
	fmt.Printf("ratio verb/optimistic:                        %10.2fx\n", verb/optimistic)
}

// cas sets key from expected to next, reporting nothing but failure to run.
type cas func(ctx context.Context, rdb *redis.Client, key, expected, next string) error

func run(addr string, clients, keys int, d time.Duration, op cas) float64 {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: clients, Protocol: 2})
	defer rdb.Close()
	for k := 0; k < keys; k++ {
		rdb.Set(ctx, "bench:cas:"+strconv.Itoa(k), "a", 0)
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for time.Now().Before(stop) {
				expected, next := "a", "b"
				if rng.Intn(2) == 0 {
					expected, next = next, expected
				}
				if err := op(ctx, rdb, "bench:cas:"+strconv.Itoa(rng.Intn(keys)), expected, next); err != nil {
					panic(err)
				}
				done.Add(1)
			}
		}(int64(c))
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}

func optimisticCAS(ctx context.Context, rdb *redis.Client, key, expected, next string) error {
	for {
		err := rdb.Watch(ctx, func(tx *redis.Tx) error {
			v, err := tx.Get(ctx, key).Result()
			if err != nil || v != expected {
				return err // no swap: a definite answer
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, next, 0)
				return nil
			})
			return err
		}, key)
		if err != redis.TxFailedErr {
			return err
		}
	}
}

func verbCAS(ctx context.Context, rdb *redis.Client, key, expected, next string) error {
	return rdb.Do(ctx, "CAS", key, expected, next).Err()
}
