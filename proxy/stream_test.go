package proxy_test

import (
	"bufio"
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/redistest"
	"github.com/redverb/redverb/internal/resp"
)

// A client that keeps sending without waiting for its replies (its
// batches are in flight together) gets every reply in the order of its
// commands, and each command sees the effects of all before it: plain
// commands mixed with commands that must wait for what came before them
// (a verb, SELECT, a transaction, local commands, CLIENT REPLY).
func TestStreamingClientKeepsOrder(t *testing.T) {
	_, p := setup(t, redistest.WithVerbs(t, ""))
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { streamAndCheck(t, p.Addr(), seed) })
	}
}

func streamAndCheck(t *testing.T, addr string, seed int64) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rng := rand.New(rand.NewSource(seed))
	key := fmt.Sprintf("stream:%d", seed)
	// The model of what the client's commands do, in order.
	var want []string
	counter, db := 0, 0
	var out []byte
	send := func(reply string, args ...string) {
		out = resp.AppendCommand(out, toBytes(args)...)
		if reply != "" && reply[0] == ':' && reply[len(reply)-1] != '\n' {
			reply += "\r\n"
		}
		if reply != "" {
			want = append(want, reply)
		}
	}
	send("+OK\r\n", "SET", key, "0")
	for range 3000 {
		switch n := rng.Intn(200); {
		case n >= 100: // mostly plain commands, which stream
			counter++
			send(":"+strconv.Itoa(counter), "INCR", key)
		case n < 45:
			counter++
			send(":"+strconv.Itoa(counter), "INCR", key)
		case n < 75:
			send(redistest.Bulk(strconv.Itoa(counter)), "GET", key)
		case n < 80:
			send(redistest.Bulk("e"), "ECHO", "e")
		case n < 85:
			// CAS the counter to itself plus 1000, then back: a verb.
			c := strconv.Itoa(counter)
			send(":1", "CAS", key, c, strconv.Itoa(counter+1000))
			send(":1", "CAS", key, strconv.Itoa(counter+1000), c)
		case n < 88:
			db = 1 - db
			send("+OK\r\n", "SELECT", strconv.Itoa(db))
			send(":0\r\n", "EXISTS", key) // the other database has no counter
			db = 1 - db
			send("+OK\r\n", "SELECT", strconv.Itoa(db))
		case n < 91:
			counter++
			send("+OK\r\n", "MULTI")
			send("+QUEUED\r\n", "INCR", key)
			send("+QUEUED\r\n", "GET", key)
			send("*2\r\n:"+strconv.Itoa(counter)+"\r\n"+redistest.Bulk(strconv.Itoa(counter)), "EXEC")
		case n < 93:
			send("", "CLIENT", "REPLY", "SKIP")
			counter++
			send("", "INCR", key) // its reply is skipped
		default:
			send("+PONG\r\n", "PING")
		}
	}
	go sendInPieces(nc, out, rng, 2000, 8, 300*time.Microsecond)
	rd := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i, w := range want {
		got, err := resp.ReadReply(rd, nil)
		if err != nil {
			t.Fatalf("reply %d of %d: %v", i, len(want), err)
		}
		if string(got) != w {
			t.Fatalf("reply %d of %d: got %q, want %q", i, len(want), got, w)
		}
	}
}

// sendInPieces writes out without reading replies, in pieces of 1 to
// maxPiece bytes, pausing up to maxPause after one piece in pauseOneIn:
// the proxy's batches are cut everywhere, even inside a command.
func sendInPieces(nc net.Conn, out []byte, rng *rand.Rand, maxPiece, pauseOneIn int, maxPause time.Duration) {
	for len(out) > 0 {
		n := min(len(out), 1+rng.Intn(maxPiece))
		if _, err := nc.Write(out[:n]); err != nil {
			return
		}
		out = out[n:]
		if rng.Intn(pauseOneIn) == 0 {
			time.Sleep(time.Duration(rng.Int63n(int64(maxPause))))
		}
	}
}

func toBytes(args []string) [][]byte {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return b
}

// A client that closes its sending side right after its commands (as
// `redis-cli < file` and `nc -N` do) still gets every reply.
func TestHalfClosedClientGetsItsReplies(t *testing.T) {
	_, p := setup(t)
	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var out []byte
	for i := range 2000 {
		out = resp.AppendCommand(out, []byte("SET"), []byte("half:"+strconv.Itoa(i)), []byte("v"))
	}
	nc.Write(out)
	nc.(*net.TCPConn).CloseWrite()
	rd := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 2000 {
		if got, err := resp.ReadReply(rd, nil); err != nil || string(got) != "+OK\r\n" {
			t.Fatalf("reply %d: %q, %v", i, got, err)
		}
	}
}

// On a cluster, a client streams INCR and GET over keys of several slots
// while two of the slots move to another master: batches change servers
// (and wait for one another), redirects resend commands from batches in
// flight, and every reply still comes in order, each counter exact.
func TestClusterStreamingClientKeepsOrder(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tags := []string{"{sa}", "{sb}", "{sc}", "{sd}", "{se}", "{sf}"}
	rng := rand.New(rand.NewSource(7))
	counters := map[string]int{}
	var out []byte
	var want []string
	for _, tag := range tags {
		out = resp.AppendCommand(out, []byte("DEL"), []byte(tag+"n"))
		want = append(want, "")
	}
	for range 20000 {
		key := tags[rng.Intn(len(tags))] + "n"
		if rng.Intn(3) == 0 {
			out = resp.AppendCommand(out, []byte("GET"), []byte(key))
			if counters[key] == 0 {
				want = append(want, "$-1\r\n")
			} else {
				want = append(want, redistest.Bulk(strconv.Itoa(counters[key])))
			}
			continue
		}
		counters[key]++
		out = resp.AppendCommand(out, []byte("INCR"), []byte(key))
		want = append(want, ":"+strconv.Itoa(counters[key])+"\r\n")
	}
	go sendInPieces(nc, out, rng, 4000, 1, 2*time.Millisecond)
	moved := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		for _, tag := range tags[:2] {
			slot := keyslot.Slot([]byte(tag))
			if err := cl.MoveSlot(slot, cl.OtherMaster(slot), time.Millisecond); err != nil {
				moved <- err
				return
			}
		}
		moved <- cl.WaitStable(30 * time.Second)
	}()
	rd := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	for i, w := range want {
		got, err := resp.ReadReply(rd, nil)
		if err != nil {
			t.Fatalf("reply %d of %d: %v", i, len(want), err)
		}
		if w != "" && string(got) != w {
			t.Fatalf("reply %d of %d: got %q, want %q", i, len(want), got, w)
		}
	}
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
}
