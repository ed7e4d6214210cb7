// Command cas measures contended read-modify-write on a few keys: clients
// increment counters either with client-side optimistic transactions
// (WATCH, GET, MULTI, SET, EXEC, retried when EXEC aborts) against Redis
// directly, or with GET + the CAS verb (retried when CAS answers 0) through
// redverb. It prints successful updates per second for each.
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

	optimistic := run(*direct, *clients, *keys, *duration, optimisticIncr)
	verb := run(*proxy, *clients, *keys, *duration, casIncr)
	fmt.Printf("optimistic WATCH/MULTI/EXEC (direct): %10.0f updates/s\n", optimistic)
	fmt.Printf("CAS verb (via redverb):               %10.0f updates/s\n", verb)
	fmt.Printf("ratio verb/optimistic:                %10.2fx\n", verb/optimistic)
}

type incr func(ctx context.Context, rdb *redis.Client, key string) error

func run(addr string, clients, keys int, d time.Duration, op incr) float64 {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: clients, Protocol: 2})
	defer rdb.Close()
	for k := 0; k < keys; k++ {
		rdb.Set(ctx, "bench:cas:"+strconv.Itoa(k), "0", 0)
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
				if err := op(ctx, rdb, "bench:cas:"+strconv.Itoa(rng.Intn(keys))); err != nil {
					panic(err)
				}
				done.Add(1)
			}
		}(int64(c))
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}

func optimisticIncr(ctx context.Context, rdb *redis.Client, key string) error {
	for {
		err := rdb.Watch(ctx, func(tx *redis.Tx) error {
			v, err := tx.Get(ctx, key).Int64()
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, v+1, 0)
				return nil
			})
			return err
		}, key)
		if err != redis.TxFailedErr {
			return err
		}
	}
}

func casIncr(ctx context.Context, rdb *redis.Client, key string) error {
	for {
		v, err := rdb.Get(ctx, key).Result()
		if err != nil {
			return err
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		swapped, err := rdb.Do(ctx, "CAS", key, v, strconv.FormatInt(n+1, 10)).Int()
		if err != nil || swapped == 1 {
			return err
		}
	}
}
