package proxy_test

import (
	"os"
	"sync"
	"testing"

	"github.com/redverb/redverb/internal/redistest"
)

// The cluster tests share one cluster of 3 masters, each with a replica:
// starting one takes seconds. Tests that change its shape (moving slots,
// failing over) leave it serving every slot again.
var (
	clusterOnce sync.Once
	cluster     *redistest.Cluster
	clusterErr  error
)

func sharedCluster(t *testing.T) *redistest.Cluster {
	t.Helper()
	clusterOnce.Do(func() { cluster, clusterErr = redistest.NewCluster(3, 1) })
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	if err := cluster.WaitStable(30e9); err != nil {
		t.Fatal(err)
	}
	return cluster
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Close()
	}
	os.Exit(code)
}

func TestClusterTransactionPinsToFirstKey(t *testing.T) {
	cl := sharedCluster(t)
	p := redistest.StartProxy(t, cl.URL())
	c := redistest.Dial(t, p.Addr())
	expect(t, c.Do("MULTI"), "+OK\r\n")
	expect(t, c.Do("PING"), "+QUEUED\r\n")
	expect(t, c.Do("SET", "c", "1"), "+QUEUED\r\n") // c lives on another master than slot 0
	expect(t, c.Do("INCR", "c"), "+QUEUED\r\n")
	expect(t, c.Do("EXEC"), "*3\r\n+PONG\r\n+OK\r\n:2\r\n")
}
