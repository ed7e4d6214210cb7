package proxy

import (
	"net"
	"strings"
	"testing"
	"time"
)

// feedSlowly writes data in chunks of size n and returns what the input
// reader makes of it: the commands (args joined by spaces) and the error.
func feedSlowly(t *testing.T, data string, n int, authed bool) ([]string, error) {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		for i := 0; i < len(data); i += n {
			client.Write([]byte(data[i:min(i+n, len(data))]))
		}
		client.Close()
	}()
	in := newInput(server, func() bool { return !authed })
	var got []string
	for {
		server.SetReadDeadline(time.Now().Add(2 * time.Second))
		cmds, err := in.readCommands()
		for _, c := range cmds {
			parts := make([]string, len(c.args))
			for i, a := range c.args {
				parts[i] = string(a)
			}
			got = append(got, strings.Join(parts, " "))
		}
		if err != nil {
			return got, err
		}
	}
}

func TestInputAcrossChunkBoundaries(t *testing.T) {
	cases := []struct {
		name, data string
		want       []string
		err        string // "" means the stream just ended
	}{
		{name: "commands", data: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n", want: []string{"GET k", "PING"}},
		{name: "binary payload with CRLF inside", data: "*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", want: []string{"ECHO a\r\nb"}},
		{name: "empty commands skipped", data: "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", want: []string{"PING"}},
		{name: "inline", data: "SET k \"a b\"\r\nGET k\n", want: []string{"SET k a b", "GET k"}},
		{name: "empty bulk", data: "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", want: []string{"ECHO "}},
		{name: "huge bulk refused at its header", data: "*1\r\n$536870913\r\nxx", err: "Protocol error: invalid bulk length"},
		{name: "bad count", data: "*1\r\n$4\r\nPING\r\n*x\r\n", want: []string{"PING"}, err: "Protocol error: invalid multibulk length"},
		{name: "expected dollar", data: "*1\r\n+PING\r\n", err: "Protocol error: expected '$', got '+'"},
		{name: "long inline", data: strings.Repeat("a", 70000), err: "Protocol error: too big inline request"},
		{name: "unbalanced quotes", data: "SET \"a\r\n", err: "Protocol error: unbalanced quotes in request"},
	}
	for _, tc := range cases {
		for _, chunk := range []int{1, 3, 7, 4096} {
			got, err := feedSlowly(t, tc.data, chunk, true)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("%s (chunks of %d): commands %q, want %q", tc.name, chunk, got, tc.want)
			}
			if tc.err == "" && !isProtocolError(err) && err != nil && err.Error() != "EOF" && !strings.Contains(err.Error(), "closed") {
				t.Errorf("%s (chunks of %d): error %v", tc.name, chunk, err)
			}
			if tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Errorf("%s (chunks of %d): error %v, want %q", tc.name, chunk, err, tc.err)
			}
		}
	}
}

func TestInputLimitsBeforeAuth(t *testing.T) {
	_, err := feedSlowly(t, "*11\r\n", 1, false)
	if err == nil || err.Error() != "Protocol error: unauthenticated multibulk length" {
		t.Errorf("11 arguments before AUTH: %v", err)
	}
	_, err = feedSlowly(t, "*1\r\n$16385\r\n", 2, false)
	if err == nil || err.Error() != "Protocol error: unauthenticated bulk length" {
		t.Errorf("16385-byte bulk before AUTH: %v", err)
	}
}
