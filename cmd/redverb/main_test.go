package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/redistest"
)

// The binary: SIGHUP rereads --verbs-dir, SIGTERM exits 0, and a bad
// setting stops start-up with one line naming it.
func TestBinary(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "--backend", "http://nope").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "invalid setting backend") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("bad setting: exit %d, output %q", code, out)
	}
	help, _ := exec.Command(bin, "--help").CombinedOutput()
	for _, want := range []string{"-listen", "REDVERB_LISTEN", "-backend", "-requirepass", "-config", "-log-level", "-log-format", "-verbs-dir"} {
		if !bytes.Contains(help, []byte(want)) {
			t.Errorf("--help does not mention %s", want)
		}
	}

	r := redistest.StartRedis(t)
	dir := t.TempDir()
	verb := "-- verb: ANSWER\n-- keys: 0\n-- args: 0\nreturn %s\n"
	write := func(v string) {
		if err := os.WriteFile(filepath.Join(dir, "answer.lua"), []byte(strings.Replace(verb, "%s", v, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("41")
	cmd, addr, logs := startBinary(t, bin, "--backend", r.URL(), "--verbs-dir", dir, "--log-format", "json")
	deadline := time.Now().Add(10 * time.Second)
	c := redistest.Dial(t, addr)
	if got := c.Do("ANSWER"); got != ":41\r\n" {
		t.Fatalf("ANSWER: %q", got)
	}
	write("42")
	cmd.Process.Signal(syscall.SIGHUP)
	for c.Do("ANSWER") != ":42\r\n" {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the verb: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"redverb started"`) {
		t.Errorf("no start-up line in the logs: %s", logs.String())
	}
}

// build compiles the binary into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "redverb")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startBinary runs redverb on a free loopback port with args, waits until
// it accepts clients, and kills it when the test ends.
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"--listen", addr}, args...)...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, addr, logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("redverb did not start: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// syncBuffer is the binary's output, which the test reads while the
// process still writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the output holds want. A line logged at the moment
// a test observes its effect reaches the buffer a little later, through
// the process's pipe.
func (b *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(b.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the logs: %s", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
