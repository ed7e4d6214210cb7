package proxy_test

import (
	"bufio"
	"fmt"
	"math/rand"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/internal/resp"
)

// After the backend loses its functions or scripts, a verb that has to be
// loaded again still takes effect before the commands its client sent
// after it.
func TestVerbKeepsOrderAfterBackendLosesIt(t *testing.T) {
	r, p := setup(t, redistest.WithVerbs(t, ""))
	direct := redistest.Dial(t, r.Addr())
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("CAS", "warm", "x", "y"), ":0\r\n") // the verb's function is loaded
	for _, flush := range [][]string{{"FUNCTION", "FLUSH"}, {"SCRIPT", "FLUSH"}, {"FUNCTION", "FLUSH"}} {
		expect(t, direct.Do(flush...), "+OK\r\n")
		c.Send("SET", "k", "1")
		c.Send("CAS", "k", "1", "2")
		c.Send("GET", "k")
		expect(t, c.Read(), "+OK\r\n")
		expect(t, c.Read(), ":1\r\n")
		expect(t, c.Read(), redistest.Bulk("2"))
	}
}

// Many clients pipeline plain commands and verbs on a few shared keys while
// the backend's functions and scripts are flushed every 20ms: every
// client's effects on each key appear in the order it sent them, none runs
// twice, and no read sees a value older than the client's own last write.
func TestOrderUnderFlushes(t *testing.T) {
	r, p := setup(t, redistest.WithVerbs(t, ""))
	stopFlush := make(chan struct{})
	flushed := make(chan int)
	go func() {
		direct, err := net.Dial("tcp", r.Addr())
		if err != nil {
			flushed <- 0
			return
		}
		defer direct.Close()
		rd, n := bufio.NewReader(direct), 0
		for tick := time.NewTicker(20 * time.Millisecond); ; {
			select {
			case <-stopFlush:
				flushed <- n
				return
			case <-tick.C:
			}
			direct.Write([]byte("*2\r\n$6\r\nSCRIPT\r\n$5\r\nFLUSH\r\n*2\r\n$8\r\nFUNCTION\r\n$5\r\nFLUSH\r\n"))
			resp.ReadReply(rd, nil)
			resp.ReadReply(rd, nil)
			n++
		}
	}()
	seed := redistest.Dial(t, p.Addr())
	expect(t, seed.Do("SET", "ord:stock", "1000000000"), "+OK\r\n")

	h := runOrderWorkload(t, p.Addr(), 12, 1500*time.Millisecond, false)
	close(stopFlush)
	if n := <-flushed; n < 10 {
		t.Fatalf("only %d flushes ran during the workload", n)
	}
	if v := h.check(t, p.Addr()); len(v) > 0 {
		t.Fatalf("%d violations of per-client order, first: %s", len(v), v[0])
	}
}

// The checker above finds a reorder: here each client swaps two commands
// of its pipeline on the wire while recording the order it meant to send.
func TestOrderCheckerCatchesReorder(t *testing.T) {
	_, p := setup(t, redistest.WithVerbs(t, ""))
	seed := redistest.Dial(t, p.Addr())
	expect(t, seed.Do("SET", "ord:stock", "1000000000"), "+OK\r\n")
	h := runOrderWorkload(t, p.Addr(), 4, 100*time.Millisecond, true)
	v := h.check(t, p.Addr())
	var reads, lists int
	for _, s := range v {
		if strings.HasPrefix(s, "read") {
			reads++
		} else {
			lists++
		}
	}
	if reads == 0 || lists == 0 {
		t.Fatalf("the checker missed deliberate reorders (%d read and %d list violations found)", reads, lists)
	}
}

// orderHistory is what the clients of runOrderWorkload saw.
type orderHistory struct {
	mu       sync.Mutex
	written  map[string]bool // every value any client wrote to a string key
	pushed   map[string]bool // every list element whose push succeeded
	problems []string        // violations found while the clients ran
}

// One round of client c: on string key K and list L, in this order,
// SET K a; CAS K a b; GET K; RPUSH L e1; RESERVE stock L e2; RPUSH L e3.
// With swap, CAS/GET and RESERVE/RPUSH e3 go out swapped. Clients run
// rounds for d.
func runOrderWorkload(t *testing.T, addr string, clients int, d time.Duration, swap bool) *orderHistory {
	h := &orderHistory{written: map[string]bool{}, pushed: map[string]bool{}}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.client(addr, c, time.Now().Add(d), swap); err != nil {
				h.report("client %d: %v", c, err)
			}
		}()
	}
	wg.Wait()
	return h
}

func (h *orderHistory) report(format string, args ...any) {
	h.mu.Lock()
	h.problems = append(h.problems, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

func (h *orderHistory) client(addr string, c int, until time.Time, swap bool) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	rd := bufio.NewReader(nc)
	rng := rand.New(rand.NewSource(int64(c)))
	// Every value this client wrote to each key, oldest first, and how many
	// of them are known to have been overwritten by the client itself.
	mine := map[string][]string{}
	stale := map[string]int{}
	for round := 0; time.Now().Before(until); round++ {
		k := rng.Intn(3)
		key, list := fmt.Sprintf("ord:k%d", k), fmt.Sprintf("ord:l%d", k)
		val := func(part string) string { return fmt.Sprintf("c%d:r%d:%s", c, round, part) }
		a, b := val("a"), val("b")
		cmds := [][]string{
			{"SET", key, a}, {"CAS", key, a, b}, {"GET", key},
			{"RPUSH", list, val("e1")}, {"RESERVE", "ord:stock", list, val("e2")}, {"RPUSH", list, val("e3")},
		}
		order := []int{0, 1, 2, 3, 4, 5}
		if swap {
			order = []int{0, 2, 1, 3, 5, 4}
		}
		h.mu.Lock()
		h.written[a], h.written[b] = true, true
		h.mu.Unlock()
		var wire []byte
		for _, i := range order {
			wire = appendArgs(wire, cmds[i]...)
		}
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := nc.Write(wire); err != nil {
			return err
		}
		replies := make([]string, len(cmds))
		for _, i := range order {
			reply, err := resp.ReadReply(rd, nil)
			if err != nil {
				return err
			}
			replies[i] = string(reply)
		}
		for i, want := range []string{"+OK\r\n", "", "", "", ":1\r\n", ""} {
			if want != "" && replies[i] != want {
				return fmt.Errorf("round %d: %v answered %q", round, cmds[i], replies[i])
			}
		}
		mine[key] = append(mine[key], a)
		switch replies[1] {
		case ":1\r\n":
			stale[key] = len(mine[key]) // a is overwritten by b
			mine[key] = append(mine[key], b)
		case ":0\r\n":
			stale[key] = len(mine[key]) - 1
		default:
			return fmt.Errorf("round %d: CAS answered %q", round, replies[1])
		}
		body, _ := resp.BulkValue([]byte(replies[2]))
		got := string(body)
		if i := slices.Index(mine[key], got); i >= 0 && i < stale[key] {
			h.report("read: client %d round %d: GET %s saw its own overwritten %q (CAS answered %q)", c, round, key, got, replies[1])
		}
		h.mu.Lock()
		if got != "" && !h.written[got] {
			h.problems = append(h.problems, fmt.Sprintf("read: client %d round %d: GET %s saw %q, which nobody wrote", c, round, key, got))
		}
		for _, i := range []int{3, 4, 5} {
			if resp.IsError([]byte(replies[i])) {
				return fmt.Errorf("round %d: %v answered %q", round, cmds[i], replies[i])
			}
			h.pushed[cmds[i][len(cmds[i])-1]] = true
		}
		h.mu.Unlock()
	}
	return nil
}

// check reads the lists and returns every violation: each pushed element
// exactly once, each client's elements in the order it sent them.
func (h *orderHistory) check(t *testing.T, addr string) []string {
	c := redistest.Dial(t, addr)
	problems := h.problems
	seen := map[string]int{}
	for k := range 3 {
		list := fmt.Sprintf("ord:l%d", k)
		elems := redistest.Elems(c.Do("LRANGE", list, "0", "-1"))
		last := map[string]string{} // client -> its last element seen
		for _, e := range elems {
			seen[e]++
			client := e[:strings.IndexByte(e, ':')]
			if prev, ok := last[client]; ok && !sentBefore(prev, e) {
				problems = append(problems, fmt.Sprintf("list: %s holds %s after %s", list, e, prev))
			}
			last[client] = e
		}
	}
	for e := range h.pushed {
		if seen[e] != 1 {
			problems = append(problems, fmt.Sprintf("list: %s is there %d times", e, seen[e]))
		}
	}
	return problems
}

// sentBefore reports whether list element a (cN:rR:eI) was sent before b by
// the same client.
func sentBefore(a, b string) bool {
	var c1, r1, e1, c2, r2, e2 int
	fmt.Sscanf(a, "c%d:r%d:e%d", &c1, &r1, &e1)
	fmt.Sscanf(b, "c%d:r%d:e%d", &c2, &r2, &e2)
	return r1 < r2 || (r1 == r2 && e1 < e2)
}

func appendArgs(dst []byte, args ...string) []byte {
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	return resp.AppendCommand(dst, bs...)
}
