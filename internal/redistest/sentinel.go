package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sentinels is a master, its replica and three Sentinels watching them,
// all real processes on loopback ports, stopped when the test ends.
type Sentinels struct {
	Master, Replica *Redis
	Sentinels       []*Redis
	Name            string
}

// StartSentinels starts the master, a replica synced to it, and three
// Sentinels that agree on them.
func StartSentinels(t testing.TB) *Sentinels {
	t.Helper()
	s := &Sentinels{Name: "mymaster"}
	s.Master = StartRedis(t)
	s.Replica = StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port))
	waitFor(t, 10*time.Second, "replica in sync", func() bool {
		return strings.Contains(string(Command(s.Replica.Addr(), "INFO", "replication")), "master_link_status:up")
	})
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 5000\n", s.Name, s.Master.Port)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		r := &Redis{dir: dir, conf: conf, t: t}
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if r.Port, err = freePort(); err == nil {
				if err = r.start(); err == nil {
					break
				}
			}
		}
		if err != nil {
			t.Fatalf("starting sentinel: %v", err)
		}
		t.Cleanup(r.Stop)
		s.Sentinels = append(s.Sentinels, r)
	}
	waitFor(t, 20*time.Second, "sentinels know each other and the replica", func() bool {
		for _, sn := range s.Sentinels {
			info := string(Command(sn.Addr(), "SENTINEL", "MASTER", s.Name))
			if !strings.Contains(info, "num-other-sentinels\r\n$1\r\n2") || !strings.Contains(info, "num-slaves\r\n$1\r\n1") {
				return false
			}
		}
		return true
	})
	return s
}

// URL is the proxy's backend URL: every Sentinel and the master's name.
func (s *Sentinels) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr()
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/" + s.Name
}

// MasterAddr is the master's address as the Sentinels report it.
func (s *Sentinels) MasterAddr() string {
	parts := Elems(string(Command(s.Sentinels[0].Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.Name)))
	if len(parts) != 2 {
		return ""
	}
	return parts[0] + ":" + parts[1]
}

// Failover runs SENTINEL FAILOVER and waits until the replica is the
// master and the Sentinels say so. It returns the new master's address.
func (s *Sentinels) Failover(t testing.TB) string {
	t.Helper()
	old := s.MasterAddr()
	if r := string(Command(s.Sentinels[0].Addr(), "SENTINEL", "FAILOVER", s.Name)); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("SENTINEL FAILOVER: %q", r)
	}
	return s.waitNewMaster(t, old)
}

// KillMaster kills the master process, and waits until the Sentinels have
// agreed it is down and promoted the replica. It returns the new master's
// address.
func (s *Sentinels) KillMaster(t testing.TB) string {
	t.Helper()
	old := s.MasterAddr()
	for _, r := range []*Redis{s.Master, s.Replica} {
		if r.Addr() == old {
			r.Stop()
		}
	}
	return s.waitNewMaster(t, old)
}

func (s *Sentinels) waitNewMaster(t testing.TB, old string) string {
	t.Helper()
	var now string
	waitFor(t, 30*time.Second, "the failover", func() bool {
		now = s.MasterAddr()
		return now != old && strings.Contains(string(Command(now, "ROLE")), "master")
	})
	return now
}

func waitFor(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
