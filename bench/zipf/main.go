// Command zipf is a skewed read-mostly load, which redis-benchmark cannot
// make: -clients connections each send pipelines of -pipeline commands,
// GET (or, with probability 1 - -reads, SET) of a key drawn from a Zipf
// distribution of exponent -s over -keys keys, values of -value bytes.
// Each client sends its next pipeline once the replies of the last are in,
// as redis-benchmark does.
//
//	go run ./bench/zipf -addr 127.0.0.1:6380 -redis 127.0.0.1:6379 -pipeline 16
//
// It prints one line: requests_per_second p50_us p99_us backend_commands,
// the latencies per request (a pipeline's requests share its round trip),
// and the commands Redis at -redis ran meanwhile (INFO's
// total_commands_processed), per request sent. With -lag it measures
// instead how long after a direct write to -redis a client of -addr
// reads the new value, and prints p50_us p99_us.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/internal/resp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "server to load")
	redisAddr := flag.String("redis", "", "the Redis behind it, to count the commands it runs (default: -addr)")
	clients := flag.Int("clients", 50, "connections")
	pipeline := flag.Int("pipeline", 1, "commands per pipeline")
	keys := flag.Int("keys", 100_000, "keys")
	exponent := flag.Float64("s", 0.99, "Zipf exponent")
	valueSize := flag.Int("value", 1024, "value bytes")
	reads := flag.Float64("reads", 0.95, "share of GET; the rest is SET")
	duration := flag.Duration("duration", 5*time.Second, "how long to load")
	prefill := flag.Bool("prefill", false, "SET every key first (through -redis)")
	lag := flag.Int("lag", 0, "if set, measure this many invalidation lags instead")
	flag.Parse()
	if *redisAddr == "" {
		*redisAddr = *addr
	}
	if *prefill {
		fill(*redisAddr, *keys, *valueSize)
	}
	if *lag > 0 {
		measureLag(*addr, *redisAddr, *lag)
		return
	}
	cdf := zipfCDF(*keys, *exponent)
	value := strings.Repeat("v", *valueSize)
	before := processed(*redisAddr)
	var sent atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	stop := time.Now().Add(*duration)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			c := dial(*addr)
			rng := rand.New(rand.NewPCG(seed, 7))
			var mine []time.Duration
			var buf []byte
			for time.Now().Before(stop) {
				buf = buf[:0]
				for j := 0; j < *pipeline; j++ {
					key := "key:" + strconv.Itoa(draw(cdf, rng))
					if rng.Float64() < *reads {
						buf = resp.AppendCommand(buf, []byte("GET"), []byte(key))
					} else {
						buf = resp.AppendCommand(buf, []byte("SET"), []byte(key), []byte(value))
					}
				}
				t0 := time.Now()
				c.roundTrip(buf, *pipeline)
				d := time.Since(t0)
				for j := 0; j < *pipeline; j++ {
					mine = append(mine, d)
				}
				sent.Add(int64(*pipeline))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(uint64(i))
	}
	wg.Wait()
	elapsed := time.Since(start)
	backend := processed(*redisAddr) - before
	slices.Sort(lat)
	n := sent.Load()
	fmt.Printf("%.0f %.0f %.0f %.4f\n", float64(n)/elapsed.Seconds(),
		us(pct(lat, 0.50)), us(pct(lat, 0.99)), float64(backend)/float64(n))
}

// zipfCDF is the cumulative distribution of ranks 1..n with weight
// 1/rank^s (math/rand's Zipf needs s > 1).
func zipfCDF(n int, s float64) []float64 {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range cdf {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return cdf
}

func draw(cdf []float64, rng *rand.Rand) int {
	return sort.SearchFloat64s(cdf, rng.Float64())
}

type conn struct {
	nc net.Conn
	r  *bufio.Reader
}

func dial(addr string) *conn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zipf:", err)
		os.Exit(1)
	}
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
}

// roundTrip writes cmds and reads n replies, exiting on an error reply.
func (c *conn) roundTrip(cmds []byte, n int) []byte {
	if _, err := c.nc.Write(cmds); err != nil {
		fmt.Fprintln(os.Stderr, "zipf:", err)
		os.Exit(1)
	}
	var reply []byte
	for i := 0; i < n; i++ {
		var err error
		if reply, err = resp.ReadReply(c.r, reply[:0]); err != nil || resp.IsError(reply) {
			fmt.Fprintf(os.Stderr, "zipf: %v %q\n", err, reply)
			os.Exit(1)
		}
	}
	return reply
}

func (c *conn) do(args ...string) []byte {
	var raw [][]byte
	for _, a := range args {
		raw = append(raw, []byte(a))
	}
	return c.roundTrip(resp.AppendCommand(nil, raw...), 1)
}

// processed is Redis's total_commands_processed.
func processed(addr string) int64 {
	c := dial(addr)
	defer c.nc.Close()
	info := string(c.do("INFO", "stats"))
	_, rest, _ := strings.Cut(info, "total_commands_processed:")
	n, _ := strconv.ParseInt(strings.TrimSpace(rest[:strings.IndexByte(rest, '\r')]), 10, 64)
	return n
}

func fill(addr string, keys, size int) {
	c := dial(addr)
	defer c.nc.Close()
	value := []byte(strings.Repeat("v", size))
	var buf []byte
	for i := 0; i < keys; i++ {
		buf = resp.AppendCommand(buf, []byte("SET"), []byte("key:"+strconv.Itoa(i)), value)
		if (i+1)%1000 == 0 || i == keys-1 {
			c.roundTrip(buf, (i%1000)+1)
			buf = buf[:0]
		}
	}
}

// measureLag writes a new value directly, then reads through addr until
// it sees it: the time from the write's reply to the fresh read is how
// long a client of addr may read the old value.
func measureLag(addr, redisAddr string, n int) {
	w, r := dial(redisAddr), dial(addr)
	var lags []time.Duration
	for i := 0; i < n; i++ {
		want := resp.AppendBulk(nil, strconv.Itoa(i))
		for j := 0; j < 3; j++ { // cached again (the first read after a change fills)
			r.do("GET", "lag:key")
			time.Sleep(200 * time.Microsecond)
		}
		w.do("SET", "lag:key", strconv.Itoa(i))
		t0 := time.Now()
		for string(r.do("GET", "lag:key")) != string(want) {
		}
		lags = append(lags, time.Since(t0))
	}
	slices.Sort(lags)
	fmt.Printf("%.0f %.0f\n", us(pct(lags, 0.50)), us(pct(lags, 0.99)))
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(p*float64(len(sorted))), len(sorted)-1)]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
