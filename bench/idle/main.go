// Command idle measures the memory a server spends on idle clients: it
// reads the server's RSS, opens N connections that each send one GET (a
// command that reaches the backend through a proxy, as real application
// connections' do) and then sit idle, reads the RSS again, closes them all and reads it a last
// time once the server has had a moment to give memory back.
//
//	go run ./bench/idle -addr 127.0.0.1:6380 -pid $(pidof redverb) -n 10000
//
// It prints one line: rss_before_kib rss_idle_kib rss_after_kib bytes_per_client.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "server address")
	pid := flag.Int("pid", 0, "server process id (its RSS is measured)")
	n := flag.Int("n", 10000, "idle clients")
	settle := flag.Duration("settle", 3*time.Second, "wait before each RSS reading")
	flag.Parse()
	if *pid == 0 {
		fmt.Fprintln(os.Stderr, "idle: -pid is required")
		os.Exit(2)
	}
	before := rss(*pid)
	conns := make([]net.Conn, 0, *n)
	buf := make([]byte, 16)
	for i := 0; i < *n; i++ {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "idle: connection %d: %v\n", i, err)
			os.Exit(1)
		}
		c.Write([]byte("*2\r\n$3\r\nGET\r\n$9\r\nidle:none\r\n")) // RESP: twemproxy takes no inline commands
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if m, err := io.ReadFull(c, buf[:5]); err != nil || string(buf[:m]) != "$-1\r\n" {
			fmt.Fprintf(os.Stderr, "idle: GET on connection %d: %q %v\n", i, buf[:m], err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	time.Sleep(*settle)
	idle := rss(*pid)
	for _, c := range conns {
		c.Close()
	}
	// Give the server up to a few settle periods to return memory.
	after := rss(*pid)
	for i := 0; i < 4; i++ {
		time.Sleep(*settle)
		after = min(after, rss(*pid))
	}
	fmt.Printf("%d %d %d %d\n", before, idle, after, (idle-before)*1024/int64(*n))
}

// rss is the resident set of a process in KiB.
func rss(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}
