package main

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A newcomer's first minutes: redverb with no --backend (the embedded demo)
// and the real redis-cli in each of its modes, as the README shows them.
func TestRedisCLIOnDemoBackend(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli is not installed (.ci/run installs redis-tools)")
	}
	_, addr, logs := startBinary(t, build(t))
	_, port, _ := net.SplitHostPort(addr)
	cli := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("redis-cli", append([]string{"-p", port}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s\nredverb: %s", args, err, out, logs.String())
		}
		return string(out)
	}

	if got := cli("", "PING"); got != "PONG\n" {
		t.Errorf("one-shot PING: %q", got)
	}
	if got := cli("SET greeting hello\nCAS greeting hello hi\nGET greeting\n"); got != "OK\n1\nhi\n" {
		t.Errorf("commands on standard input: %q", got)
	}
	if got := cli("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "--pipe"); !strings.Contains(got, "errors: 0, replies: 2") {
		t.Errorf("--pipe: %q", got)
	}
	if got := cli("", "COMMAND", "COUNT"); strings.Contains(got, "\n\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("COMMAND COUNT is not one integer: %q", got)
	}
	if got := cli("", "COMMAND", "INFO", "get", "nosuchcommand"); !strings.HasPrefix(got, "get\n2\n") || !strings.HasSuffix(got, "\n\n") {
		t.Errorf("COMMAND INFO get nosuchcommand: %q", got)
	}

	t.Run("interactive", func(t *testing.T) {
		if _, err := exec.LookPath("tmux"); err != nil {
			t.Fatal("tmux is not installed (.ci/run installs it)")
		}
		session := "redverb-cli-" + port
		if out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "20", "redis-cli -p "+port).CombinedOutput(); err != nil {
			t.Fatalf("tmux: %v %s", err, out)
		}
		defer exec.Command("tmux", "kill-session", "-t", session).Run()
		screen := func(want string) string {
			t.Helper()
			var got []byte
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				got, _ = exec.Command("tmux", "capture-pane", "-t", session, "-p").Output()
				if strings.Contains(string(got), want) {
					return string(got)
				}
			}
			t.Fatalf("screen never showed %q:\n%s\nredverb: %s", want, got, logs.String())
			return ""
		}
		keys := func(k ...string) { exec.Command("tmux", append([]string{"send-keys", "-t", session}, k...)...).Run() }
		screen("127.0.0.1:" + port + ">")
		keys("SET counter 10", "Enter")
		screen("OK")
		keys("SET x ") // a hint for an ordinary command, from redis-cli's own help
		screen("SET x value [NX|XX]")
		keys("C-u", "INCRMAX counter ") // and for a verb
		screen("INCRMAX counter arg arg")
		keys("C-u", "INCRMAX counter 5 100", "Enter")
		screen("(integer) 15")
	})
}
