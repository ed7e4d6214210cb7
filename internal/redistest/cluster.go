package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redverb/redverb/internal/resp"
)

// Cluster is a Redis Cluster of real redis-server processes on loopback
// ports, created with redis-cli --cluster create. Tests share one (see
// NewCluster); Close stops every node.
type Cluster struct {
	Nodes []*Redis // masters first, then replicas, as created
	dir   string
}

// NewCluster starts masters+masters*replicas nodes and joins them into a
// cluster whose every node agrees that all slots are served. Unlike
// StartRedis it is not tied to one test: the caller closes it.
func NewCluster(masters, replicas int) (*Cluster, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, fmt.Errorf("redis-cli not found: install redis-tools")
	}
	dir, err := os.MkdirTemp("", "redverb-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	addrs := []string{}
	for i := 0; i < masters*(1+replicas); i++ {
		bus, err := freePort()
		if err != nil {
			c.Close()
			return nil, err
		}
		nodeDir := fmt.Sprintf("%s/%d", dir, i)
		os.MkdirAll(nodeDir, 0o755)
		r, err := launch(nodeDir, "--cluster-enabled", "yes", "--cluster-config-file", nodeDir+"/nodes.conf",
			"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "2000")
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, r)
		addrs = append(addrs, r.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	if err := c.WaitStable(30 * time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// URL is the proxy's backend URL for the cluster, with every node a seed.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// WaitStable waits until every node says cluster_state:ok and they agree on
// the slot map (the same CLUSTER SLOTS reply everywhere).
func (c *Cluster) WaitStable(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		agreed, slots := true, ""
		for _, n := range c.Nodes {
			info := string(Command(n.Addr(), "CLUSTER", "INFO"))
			s := string(Command(n.Addr(), "CLUSTER", "SLOTS"))
			if !strings.Contains(info, "cluster_state:ok") || (slots != "" && s != slots) {
				agreed, last = false, n.Addr()+": "+info
				break
			}
			slots = s
		}
		if agreed {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("cluster not stable after %v: %s", timeout, last)
}

// Masters returns the nodes that are masters now.
func (c *Cluster) Masters() []*Redis {
	var ms []*Redis
	for _, n := range c.Nodes {
		if strings.Contains(string(Command(n.Addr(), "ROLE")), "master") {
			ms = append(ms, n)
		}
	}
	return ms
}

// NodeID is a node's cluster id.
func NodeID(addr string) string {
	reply := string(Command(addr, "CLUSTER", "MYID"))
	lines := strings.Split(reply, "\r\n")
	if len(lines) < 2 {
		return ""
	}
	return lines[1]
}

// Close stops every node and removes their files.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		n.Stop()
	}
	os.RemoveAll(c.dir)
}

// Command sends one command to addr on a fresh connection and returns the
// raw reply (nil if the server cannot be reached).
func Command(addr string, args ...string) []byte {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	if _, err := nc.Write(resp.AppendCommand(nil, bs...)); err != nil {
		return nil
	}
	reply, err := resp.ReadReply(bufio.NewReader(nc), nil)
	if err != nil {
		return nil
	}
	return reply
}
