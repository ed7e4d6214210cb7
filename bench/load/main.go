// Command load measures latency at a fixed request rate, which
// redis-benchmark cannot do: it sends GET (or -cmd) on -conns connections
// at -rate requests per second in total, each request at its scheduled time
// whether or not earlier replies have come back, and times every reply from
// the moment its request was due, so a stall is counted in full rather than
// hidden by a client that waits (coordinated omission).
//
//	go run ./bench/load -addr 127.0.0.1:6380 -rate 40000 -duration 10s
//
// It prints one line: p50_us p99_us p999_us requests_per_second.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redverb/redverb/internal/resp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "server address")
	rate := flag.Float64("rate", 10000, "requests per second, all connections together")
	conns := flag.Int("conns", 50, "connections")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	cmd := flag.String("cmd", "GET bench:key", "command to send, words separated by spaces")
	flag.Parse()

	var args [][]byte
	for _, w := range strings.Fields(*cmd) {
		args = append(args, []byte(w))
	}
	request := resp.AppendCommand(nil, args...)
	interval := time.Duration(float64(*conns) * float64(time.Second) / *rate)
	start := time.Now().Add(100 * time.Millisecond)
	end := start.Add(*duration)

	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		nc, err := net.Dial("tcp", *addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		// Stagger the connections across one interval.
		first := start.Add(interval * time.Duration(i) / time.Duration(*conns))
		due := make(chan time.Time, 1<<16)
		wg.Add(2)
		go func() { // sender
			defer wg.Done()
			defer close(due)
			for t := first; t.Before(end); t = t.Add(interval) {
				time.Sleep(time.Until(t))
				due <- t
				if _, err := nc.Write(request); err != nil {
					fmt.Fprintln(os.Stderr, "load: write:", err)
					os.Exit(1)
				}
			}
		}()
		go func() { // receiver
			defer wg.Done()
			defer nc.Close()
			r := bufio.NewReader(nc)
			var mine []time.Duration
			var buf []byte
			for t := range due {
				var err error
				if buf, err = resp.ReadReply(r, buf[:0]); err != nil || resp.IsError(buf) {
					fmt.Fprintf(os.Stderr, "load: reply %q: %v\n", buf, err)
					os.Exit(1)
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Nanoseconds()) / 1e3
	}
	fmt.Printf("%.0f %.0f %.0f %.0f\n", pct(0.50), pct(0.99), pct(0.999), float64(len(all))/duration.Seconds())
}
