package proxy

import (
	"net"
	"strings"
	"testing"
)

// BenchmarkInputPipeline measures validating and splitting a 16-command
// pipeline; it should not allocate per command.
func BenchmarkInputPipeline(b *testing.B) {
	batch := strings.Repeat("*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$10\r\nvalue12345\r\n", 16)
	client, server := net.Pipe()
	defer client.Close()
	in := newInput(server, func() bool { return false })
	go func() {
		for {
			if _, err := client.Write([]byte(batch)); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(batch) / 16)) // per command
	for n := 0; n < b.N; {
		cmds, err := in.readCommands()
		if err != nil {
			b.Fatal(err)
		}
		n += len(cmds)
	}
	server.Close()
}
