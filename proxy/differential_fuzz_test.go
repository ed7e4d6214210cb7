package proxy_test

import (
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/internal/resp"
)

// fuzzCommands are deterministic commands (no times, no randomness, no
// blocking) that exercise the shared, dedicated (MULTI) and local (SELECT,
// CLIENT REPLY) paths.
var fuzzCommands = []string{
	"SET", "GET", "INCR", "INCRBY", "APPEND", "STRLEN", "DEL", "EXISTS", "MGET", "MSET", "GETDEL", "GETRANGE",
	"LPUSH", "RPUSH", "LRANGE", "LPOP", "LLEN", "HSET", "HGET", "HGETALL", "HDEL", "SADD", "SCARD", "SISMEMBER",
	"ZADD", "ZRANGE", "ZSCORE", "ECHO", "PING", "TYPE", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SELECT",
	"CLIENT", "EVAL", "NOSUCHCOMMAND",
}

var fuzzWords = []string{"k0", "k1", "k2", "{t}k3", "0", "1", "-1", "10", "WITHSCORES", "REPLY", "ON", "GETNAME", "SETNAME",
	"return redis.call('GET', KEYS[1])", "return {1, {2, {3}}}", "x", "", "9223372036854775807", "1.5"}

// decodeCommands turns fuzz bytes into a pipeline of commands.
func decodeCommands(data []byte) [][]string {
	var cmds [][]string
	for len(data) >= 2 && len(cmds) < 64 {
		name := fuzzCommands[int(data[0])%len(fuzzCommands)]
		argc := int(data[1] % 5)
		data = data[2:]
		cmd := []string{name}
		for i := 0; i < argc && len(data) > 0; i++ {
			cmd = append(cmd, fuzzWords[int(data[0])%len(fuzzWords)])
			data = data[1:]
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// FuzzPipelineMatchesRedis sends a fuzzed pipeline to redis-server directly
// and through the proxy (each backend flushed first) and requires the same
// reply bytes, while another client's ECHOs through the same proxy come
// back as its own. Every command gets its reply, in order, and none goes to
// the wrong client.
func FuzzPipelineMatchesRedis(f *testing.F) {
	f.Add([]byte{0, 2, 0, 4, 1, 1, 0, 2, 30, 0, 0, 2, 1, 5, 31, 0, 2, 1, 0})
	f.Add([]byte{36, 2, 9, 10, 9, 1, 0, 37, 3, 0, 13, 0})
	f.Add([]byte{35, 1, 5, 30, 0, 35, 1, 4})
	direct := redistest.StartRedis(f)
	p := redistest.StartProxy(f, redistest.StartRedis(f).URL(), redistest.WithLogger(zap.NewNop()))
	// One set of connections for every run: a fuzzer's hundreds of
	// thousands of runs would otherwise exhaust the loopback's ports.
	conns := []*redistest.Conn{redistest.Dial(f, direct.Addr()), redistest.Dial(f, p.Addr()), redistest.Dial(f, p.Addr())}
	run := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b, other := conns[0].For(t), conns[1].For(t), conns[2].For(t)
		run++
		sentinel := "end-" + strconv.Itoa(run)
		cmds := append(decodeCommands(data), []string{"CLIENT", "REPLY", "ON"}, []string{"DISCARD"}, []string{"SELECT", "0"},
			[]string{"ECHO", sentinel})
		var pipeline []byte
		for _, cmd := range cmds {
			args := make([][]byte, len(cmd))
			for i, w := range cmd {
				args[i] = []byte(w)
			}
			pipeline = resp.AppendCommand(pipeline, args...)
		}
		var got [2]string
		for i, c := range []*redistest.Conn{a, b} {
			c.Do("FLUSHALL")
			c.Write(pipeline)
			if i == 1 {
				other.Send("ECHO", "other-"+sentinel)
			}
			for {
				reply, err := c.ReadErr(5 * time.Second)
				if err != nil {
					t.Fatalf("no sentinel after %q (got %q): %v", cmds, got[i], err)
				}
				got[i] += reply
				if reply == redistest.Bulk(sentinel) {
					break
				}
			}
		}
		if got[0] != got[1] {
			t.Fatalf("pipeline %q\nredis: %q\nproxy: %q", cmds, got[0], got[1])
		}
		if r := other.Read(); r != redistest.Bulk("other-"+sentinel) {
			t.Fatalf("the other client got %q", r)
		}
	})
}
