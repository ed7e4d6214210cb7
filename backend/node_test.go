package backend

import (
	"context"
	"net"
	"testing"
)

// A node that closes (its server left the topology) closes the connections
// clients hold too, and forgets the ones they closed themselves. Only
// connection bookkeeping is checked, so the server is a listener that
// accepts and holds connections (the proxy's handshake sends nothing for
// database 0 without credentials).
func TestNodeCloseClosesLentConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	b, err := NewBackend(BackendOptions{URL: "redis://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n, err := b.Master(-1)
	if err != nil {
		t.Fatal(err)
	}
	take := func() *Conn {
		c, err := n.Take(context.Background(), ConnKey{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	held, dropped, returned := take(), take(), take()
	dropped.nc.Close()
	returned.Give()
	n.mu.Lock()
	lent := len(n.lent)
	n.mu.Unlock()
	if lent != 1 {
		t.Fatalf("%d connections lent, want 1 (the one still held)", lent)
	}
	n.close()
	if _, err := held.nc.Write([]byte("PING\r\n")); err == nil {
		t.Fatal("a held connection still works after its node closed")
	}
	if open := b.Stats().Open; open != 0 {
		t.Fatalf("%d connections open after the node closed", open)
	}
}
