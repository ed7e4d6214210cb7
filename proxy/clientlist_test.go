package proxy_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/redistest"
)

// clientFields returns the field names of a CLIENT INFO line and its values.
func clientFields(line string) ([]string, map[string]string) {
	var names []string
	values := map[string]string{}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		names = append(names, k)
		values[k] = v
	}
	return names, values
}

// CLIENT LIST and CLIENT INFO print every field Redis 7.0 prints, in its
// order, each with redverb's true value: the last command (client
// libraries wait for cmd=blpop before unblocking a client), the blocked
// flag, the commands queued in MULTI, and replies waiting for a client
// that does not read them.
func TestClientListFieldsAsRedis(t *testing.T) {
	r, p := setup(t)
	direct, proxied := redistest.Dial(t, r.Addr()), redistest.Dial(t, p.Addr())
	want, _ := clientFields(string(redistest.Elems("*1\r\n" + direct.Do("CLIENT", "INFO"))[0]))
	got, values := clientFields(string(redistest.Elems("*1\r\n" + proxied.Do("CLIENT", "INFO"))[0]))
	if strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
		t.Fatalf("CLIENT INFO fields\n redis: %v\n proxy: %v", want, got)
	}
	if values["cmd"] != "client|info" || values["redir"] != "-1" || values["argv-mem"] != "10" {
		t.Errorf("own line: %v", values)
	}

	line := func(id string) map[string]string {
		for _, l := range strings.Split(string(redistest.Elems("*1\r\n" + proxied.Do("CLIENT", "LIST"))[0]), "\n") {
			if _, v := clientFields(l); v["id"] == id {
				return v
			}
		}
		t.Fatalf("client %s is not listed", id)
		return nil
	}
	idOf := func(c *redistest.Conn) string { return strings.TrimSpace(c.Do("CLIENT", "ID")[1:]) }

	other := redistest.Dial(t, p.Addr())
	id := idOf(other)
	other.Do("GET", "k")
	if v := line(id); v["cmd"] != "get" || v["flags"] != "N" {
		t.Errorf("after GET: %v", v)
	}
	other.Do("MULTI")
	other.Do("SET", "k", "1")
	other.Do("INCR", "n")
	if v := line(id); v["multi"] != "2" || v["flags"] != "x" || v["cmd"] != "incr" {
		t.Errorf("in MULTI with 2 queued: %v", v)
	}
	other.Do("EXEC")
	other.Send("BLPOP", "q", "0")
	for deadline := time.Now().Add(5 * time.Second); line(id)["cmd"] != "blpop"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a blocked client never showed cmd=blpop: %v", line(id))
		}
	}
	if v := line(id); v["flags"] != "b" {
		t.Errorf("blocked: %v", v)
	}
	proxied.Do("RPUSH", "q", "x")
	other.Read()

	// A client that reads none of 300 replies of 1 MiB: Redis keeps them
	// (no limit for normal clients), and so does redverb, showing them
	// as omem.
	proxied.Do("SET", "big", strings.Repeat("x", 1<<20))
	slow := redistest.Dial(t, p.Addr())
	slowID := idOf(slow)
	for range 3 { // 300 MiB, past the old 256 MiB default; in several batches: replies show once a batch is ready
		slow.Write([]byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 100)))
		time.Sleep(20 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if omem, _ := strconv.Atoi(line(slowID)["omem"]); omem > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replies waiting for a client that does not read never showed: %v", line(slowID))
		}
	}
	bulk := regexp.MustCompile(`^\$1048576\r\n`)
	for i := range 300 {
		if got := slow.Read(); !bulk.MatchString(got) {
			t.Fatalf("reply %d: %.40q", i, got)
		}
	}
}

// CLIENT LIST's filters, as Redis 7.0 answers them.
func TestClientListFiltersMatchRedis(t *testing.T) {
	scenario := func(addr string) []string {
		c := redistest.Dial(t, addr)
		id := strings.TrimSpace(c.Do("CLIENT", "ID")[1:])
		own := func(reply string) string { // one line, reduced to what does not vary
			if !strings.HasPrefix(reply, "$") {
				return reply
			}
			_, v := clientFields(string(redistest.Elems("*1\r\n" + reply)[0]))
			return v["id"] + " " + v["cmd"] + " qbuf=" + v["qbuf"]
		}
		return []string{
			own(c.Do("CLIENT", "LIST", "ID", id)), own(c.Do("CLIENT", "LIST", "ID", id, "999999")),
			c.Do("CLIENT", "LIST", "ID", "x"), c.Do("CLIENT", "LIST", "TYPE", "nope"), c.Do("CLIENT", "LIST", "TYPE", "replica"),
			c.Do("CLIENT", "LIST", "FOO"), own(c.Do("CLIENT", "INFO")),
		}
	}
	r, p := setup(t)
	direct, proxied := scenario(r.Addr()), scenario(p.Addr())
	for i := range direct {
		// client ids differ between the two servers
		direct[i] = regexp.MustCompile(`^\d+ `).ReplaceAllString(direct[i], "<id> ")
		proxied[i] = regexp.MustCompile(`^\d+ `).ReplaceAllString(proxied[i], "<id> ")
	}
	if strings.Join(direct, "|") != strings.Join(proxied, "|") {
		t.Fatalf("redis: %q\nproxy: %q", direct, proxied)
	}
}

// INFO's connected_clients counts the clients CLIENT LIST lists, as on
// Redis (Redis's "CLIENT KILL SKIPME YES/NO will kill all clients" compares
// them), not redverb's backend connections.
func TestInfoConnectedClientsAreRedverbs(t *testing.T) {
	_, p := setup(t)
	c := redistest.Dial(t, p.Addr())
	for range 3 {
		redistest.Dial(t, p.Addr()).Do("PING")
	}
	listed := strings.Count(string(redistest.Elems("*1\r\n" + c.Do("CLIENT", "LIST"))[0]), "\n")
	if info := c.Do("INFO", "clients"); !strings.Contains(info, "\r\nconnected_clients:"+strconv.Itoa(listed)+"\r\n") {
		t.Fatalf("CLIENT LIST lists %d clients; INFO clients says %q", listed, info)
	}
	expect(t, c.Do("CLIENT", "KILL", "SKIPME", "yes"), ":"+strconv.Itoa(listed-1)+"\r\n")
}

// The same in RESP3, where INFO is a verbatim string.
func TestInfoConnectedClientsRESP3(t *testing.T) {
	_, p := setup(t)
	c := redistest.Dial(t, p.Addr())
	c.Do("HELLO", "3")
	if info := c.Do("INFO", "clients"); !strings.HasPrefix(info, "=") || !strings.Contains(info, "txt:# Clients\r\n") || !strings.Contains(info, "\r\nconnected_clients:1\r\n") {
		t.Fatalf("INFO clients in RESP3: %q", info)
	}
}
