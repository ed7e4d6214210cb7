//go:build linux

package proxy_test

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/redistest"
)

// Idle clients are parked without a goroutine, and are served as before
// when they talk again; CLIENT KILL and shutdown reach parked clients.
func TestIdleClientsAreParked(t *testing.T) {
	_, p := setup(t)
	clients := make([]*redistest.Conn, 20)
	ids := make([]string, len(clients))
	for i := range clients {
		clients[i] = redistest.Dial(t, p.Addr())
		expect(t, clients[i].Do("SET", "park:"+strconv.Itoa(i), "v"), "+OK\r\n")
		ids[i] = clients[i].Do("CLIENT", "ID")[1:]
		ids[i] = ids[i][:len(ids[i])-2]
	}
	waitFor(t, func() bool { return p.Server.ParkedClients() == len(clients) })

	// Woken by their own commands, pipelines included.
	for i, c := range clients[:10] {
		c.Send("GET", "park:"+strconv.Itoa(i))
		c.Send("PING")
		expect(t, c.Read(), redistest.Bulk("v"))
		expect(t, c.Read(), "+PONG\r\n")
	}
	// Killed while parked: the connection closes, and the client is gone.
	killer := redistest.Dial(t, p.Addr())
	expect(t, killer.Do("CLIENT", "KILL", "ID", ids[15]), ":1\r\n")
	if got, err := clients[15].ReadErr(5 * time.Second); err != io.EOF {
		t.Fatalf("a parked client killed: %q, %v; want it closed", got, err)
	}
	waitFor(t, func() bool {
		return !strings.Contains(killer.Do("CLIENT", "LIST"), "id="+ids[15]+" ")
	})
	// Parked again once idle, then shut down: Shutdown returns, and every
	// parked client's connection is closed.
	waitFor(t, func() bool { return p.Server.ParkedClients() >= len(clients)-1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Server.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with parked clients: %v", err)
	}
	for i, c := range clients {
		if i == 15 {
			continue
		}
		if got, err := c.ReadErr(5 * time.Second); err != io.EOF {
			t.Fatalf("client %d after shutdown: %q, %v; want it closed", i, got, err)
		}
	}
}
