package proxy

import (
	"net"
	"testing"

	"github.com/tidwall/redcon"
)

// ForwardAllocs is the average number of allocations of classifying and
// forwarding one pipeline (raw RESP, several commands) through a session
// of srv, replies included, as a client's session does between reading
// its input and writing its replies.
func ForwardAllocs(t testing.TB, srv *Server, pipeline string, runs int) float64 {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	s := newSession(srv, 1<<40, server)
	var cmds []command
	for rest := []byte(pipeline); len(rest) > 0; {
		complete, args, _, leftover, err := redcon.ReadNextCommand(rest, nil)
		if err != nil || !complete {
			t.Fatalf("bad pipeline %q: %v", pipeline, err)
		}
		cmds = append(cmds, command{raw: rest[:len(rest)-len(leftover)], args: args})
		rest = leftover
	}
	forward := func() {
		t := srv.commands()
		for i := range cmds {
			s.nameBuf = t.classify(&cmds[i], s.nameBuf)
		}
		s.run(cmds)
		if len(s.out) == 0 || s.out[0] == '-' {
			panic("no reply: " + string(s.out))
		}
		s.out = s.out[:0]
	}
	forward() // warm: the shared connection, the table, the buffers
	return testing.AllocsPerRun(runs, forward)
}

// ParkedClients is how many clients the parker holds without a goroutine.
func (srv *Server) ParkedClients() int {
	srv.parker.mu.Lock()
	defer srv.parker.mu.Unlock()
	return len(srv.parker.parked)
}
