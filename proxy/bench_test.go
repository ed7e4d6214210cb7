package proxy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redverb/redverb/commands"
	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/internal/resp"
)

// BenchmarkGet compares GET against redis-server directly and through the
// proxy, in one run, with parallel clients each pipelining 16 commands.
// Compare the two ns/op figures; absolute values depend on the machine.
//
//	go test ./proxy -run '^$' -bench Get -benchtime 200000x
func BenchmarkGet(b *testing.B) {
	r := redistest.StartRedis(b)
	p := redistest.StartProxy(b, r.URL(), redistest.WithVerbs(b, ""))
	redistest.Dial(b, r.Addr()).Do("SET", "k", "v")
	for _, target := range []struct{ name, addr string }{{"direct", r.Addr()}, {"proxy", p.Addr()}} {
		b.Run(target.name, func(b *testing.B) { pipelined(b, target.addr, "GET", "k") })
	}
}

// BenchmarkCAS compares the CAS verb with the same script called by EVALSHA
// on redis-server directly. Verbs run as Redis functions, so the script is
// loaded into the direct server's script cache here.
func BenchmarkCAS(b *testing.B) {
	r := redistest.StartRedis(b)
	p := redistest.StartProxy(b, r.URL(), redistest.WithVerbs(b, ""))
	loaded := redistest.Dial(b, r.Addr()).Do("SCRIPT", "LOAD", commands.Builtins()["cas"].Script)
	sha, ok := resp.BulkValue([]byte(loaded))
	if !ok {
		b.Fatalf("SCRIPT LOAD: %q", loaded)
	}
	b.Run("evalsha-direct", func(b *testing.B) { pipelined(b, r.Addr(), "EVALSHA", string(sha), "1", "k", "x", "y") })
	b.Run("verb-proxy", func(b *testing.B) { pipelined(b, p.Addr(), "CAS", "k", "x", "y") })
}

// BenchmarkOnePipeliningClient compares one client pipelining GET (16 or
// 128 commands a batch) against redis-server directly and through the
// proxy, in one run; ns/op is per command. "wait" sends the next batch once
// the replies are read (redis-benchmark's way); "stream" keeps up to 4
// batches ahead of its replies (a client multiplexing many callers on one
// connection, like Lettuce or StackExchange.Redis), which only a proxy
// keeping several batches of a client in flight serves at Redis's pace.
//
//	go test ./proxy -run '^$' -bench OnePipeliningClient -benchtime 400000x
func BenchmarkOnePipeliningClient(b *testing.B) {
	r := redistest.StartRedis(b)
	p := redistest.StartProxy(b, r.URL())
	redistest.Dial(b, r.Addr()).Do("SET", "k", "v")
	for _, depth := range []int{16, 128} {
		for _, ahead := range []int{1, 4} {
			mode := map[int]string{1: "wait", 4: "stream"}[ahead]
			for _, target := range []struct{ name, addr string }{{"direct", r.Addr()}, {"proxy", p.Addr()}} {
				b.Run(fmt.Sprintf("P%d/%s/%s", depth, mode, target.name), func(b *testing.B) {
					pipelineGets(b, redistest.Dial(b, target.addr), depth, ahead)
				})
			}
		}
	}
}

// pipelineGets sends b.N GETs of "k" in batches of depth, at most ahead
// batches ahead of the replies read, and checks every reply.
func pipelineGets(b *testing.B, c *redistest.Conn, depth, ahead int) {
	batch := []byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", depth))
	batches := (b.N + depth - 1) / depth
	window := make(chan struct{}, ahead)
	go func() {
		for range batches {
			window <- struct{}{}
			if _, err := c.NetConn().Write(batch); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	for range batches {
		for range depth {
			if reply := c.Read(); reply != "$1\r\nv\r\n" {
				b.Fatalf("GET: %q", reply)
			}
		}
		<-window
	}
	b.ReportMetric(float64(batches*depth)/b.Elapsed().Seconds(), "ops/s")
}

func pipelined(b *testing.B, addr string, args ...string) {
	const depth = 16
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := redistest.Dial(b, addr)
		pending := 0
		for pb.Next() {
			c.Send(args...)
			if pending++; pending == depth {
				for ; pending > 0; pending-- {
					if reply := c.Read(); reply[0] == '-' {
						b.Errorf("%v: %q", args, reply)
						return
					}
				}
			}
		}
		for ; pending > 0; pending-- {
			c.Read()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
