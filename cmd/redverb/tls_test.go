package main

import (
	"crypto/tls"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redverb/redverb/internal/redistest"
)

// TLS on both sides: redverb serves plain and TLS clients together (Redis's
// tls-* settings; redis-cli --tls works), speaks mutual TLS to a rediss
// backend that requires client certificates, and re-reads its certificate
// on SIGHUP.
func TestTLS(t *testing.T) {
	bin := build(t)
	files, err := redistest.NewTLSFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.StartRedisTLS(t, files, "--tls-auth-clients", "yes")
	backend := "rediss://127.0.0.1:" + strconv.Itoa(r.TLSPort)
	tlsPort := strconv.Itoa(redistest.FreePort(t))
	cmd, addr, logs := startBinary(t, bin, "--backend", backend,
		"--backend-tls-ca-cert-file", files.CA, "--backend-tls-cert-file", files.Cert, "--backend-tls-key-file", files.Key,
		"--tls-port", tlsPort, "--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA)

	// A plain client, over redverb's mutual TLS to the backend.
	expect(t, redistest.Dial(t, addr).Do("SET", "k", "v"), "+OK\r\n")
	cli := func(args ...string) (string, error) {
		out, err := exec.Command("redis-cli", append([]string{"-p", tlsPort, "--tls"}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := cli(append([]string{"--cacert", files.CA, "--cert", files.Cert, "--key", files.Key}, "GET", "k")...); err != nil || out != "v" {
		t.Fatalf("redis-cli --tls GET: %q %v", out, err)
	}
	if out, _ := cli("--cacert", files.CA, "GET", "k"); out == "v" {
		t.Fatal("a TLS client without a certificate was served, with tls-auth-clients yes")
	}
	// tls-auth-clients optional, and a TLS-only proxy (listen port 0).
	optPort := strconv.Itoa(redistest.FreePort(t))
	opt := exec.Command(bin, "--listen", "127.0.0.1:0", "--backend", r.URL(), "--tls-port", optPort,
		"--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA, "--tls-auth-clients", "optional")
	if err := opt.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { opt.Process.Kill(); opt.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, _ := exec.Command("redis-cli", "-p", optPort, "--tls", "--cacert", files.CA, "PING").CombinedOutput()
		if strings.TrimSpace(string(out)) == "PONG" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tls-auth-clients optional: a client without a certificate got %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// New files under the same names, then SIGHUP: new connections get the
	// new certificate, which only the new CA vouches for.
	next, err := redistest.NewTLSFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{next.Cert: files.Cert, next.Key: files.Key, next.CA: files.CA} {
		b, _ := os.ReadFile(from)
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := tls.LoadX509KeyPair(next.Cert, next.Key)
	if err != nil {
		t.Fatal(err)
	}
	dialNew := func() error {
		c, err := tls.Dial("tcp", "127.0.0.1:"+tlsPort, &tls.Config{RootCAs: next.Pool, Certificates: []tls.Certificate{cert}})
		if err == nil {
			c.Close()
		}
		return err
	}
	if dialNew() == nil {
		t.Fatal("the new CA was trusted before SIGHUP")
	}
	cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); dialNew() != nil; {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the certificate: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	logs.waitFor(t, "TLS certificate and CA reloaded")
}

// backend-tls-insecure-skip-verify accepts a certificate nobody vouches
// for, and says so in the log.
func TestBackendTLSInsecureSkipVerify(t *testing.T) {
	bin := build(t)
	files, err := redistest.NewTLSFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.StartRedisTLS(t, files)
	backend := "rediss://127.0.0.1:" + strconv.Itoa(r.TLSPort)
	_, addr, logs := startBinary(t, bin, "--backend", backend, "--backend-tls-insecure-skip-verify", "yes")
	expect(t, redistest.Dial(t, addr).Do("PING"), "+PONG\r\n")
	logs.waitFor(t, "WARN")
	logs.waitFor(t, "NOT checked")
	_, addr, _ = startBinary(t, bin, "--backend", backend) // the system's roots do not know the test CA
	if got := redistest.Dial(t, addr).Do("PING"); !strings.Contains(got, "certificate") {
		t.Errorf("an unverifiable backend answered %q", got)
	}
}

func expect(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
