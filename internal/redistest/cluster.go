package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redverb/redverb/internal/resp"
)

// Cluster is a Redis Cluster of real redis-server processes on loopback
// ports, created with redis-cli --cluster create. Tests share one (see
// NewCluster); Close stops every node.
type Cluster struct {
	Nodes    []*Redis // masters first, then replicas, as created
	dir      string
	replicas int       // per master
	tls      *TLSFiles // if set, nodes also serve TLS, and the bus runs on it
}

// ClusterOption changes how NewCluster starts the nodes.
type ClusterOption func(*Cluster)

// WithTLS makes every node serve TLS (on Redis.TLSPort, besides its plain
// port) with the given certificate, and run the cluster bus over TLS.
func WithTLS(f *TLSFiles) ClusterOption { return func(c *Cluster) { c.tls = f } }

// TLSURL is the proxy's rediss-cluster:// URL for a WithTLS cluster.
func (c *Cluster) TLSURL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(n.TLSPort)
	}
	return "rediss-cluster://" + strings.Join(addrs, ",")
}

// NewCluster starts masters+masters*replicas nodes and joins them into a
// cluster whose every node agrees that all slots are served. Unlike
// StartRedis it is not tied to one test: the caller closes it.
func NewCluster(masters, replicas int, opts ...ClusterOption) (*Cluster, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, fmt.Errorf("redis-cli not found: install redis-tools")
	}
	dir, err := os.MkdirTemp("", "redverb-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, replicas: replicas}
	for _, o := range opts {
		o(c)
	}
	addrs := []string{}
	for i := 0; i < masters*(1+replicas); i++ {
		bus, err := freePort()
		if err != nil {
			c.Close()
			return nil, err
		}
		nodeDir := fmt.Sprintf("%s/%d", dir, i)
		os.MkdirAll(nodeDir, 0o755)
		args := []string{"--cluster-enabled", "yes", "--cluster-config-file", nodeDir + "/nodes.conf",
			"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "2000", "--enable-debug-command", "local"}
		tlsPort := 0
		if c.tls != nil {
			if tlsPort, err = freePort(); err != nil {
				c.Close()
				return nil, err
			}
			args = append(args, c.tls.args(tlsPort)...)
		}
		r, err := launch(nodeDir, args...)
		if err != nil {
			c.Close()
			return nil, err
		}
		r.TLSPort = tlsPort
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
// the slot map (the same CLUSTER SLOTS reply everywhere), in which every
// master has its replicas.
func (c *Cluster) WaitStable(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		agreed, slots := true, ""
		for _, n := range c.Nodes {
			info := string(Command(n.Addr(), "CLUSTER", "INFO"))
			s := string(Command(n.Addr(), "CLUSTER", "SLOTS"))
			complete := true // every range lists its master and replicas
			for _, m := range rangeHeader.FindAllStringSubmatch(s, -1) {
				complete = complete && m[1] == strconv.Itoa(3+c.replicas)
			}
			if !strings.Contains(info, "cluster_state:ok") || !complete || (slots != "" && s != slots) {
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

// rangeHeader matches a slot range of CLUSTER SLOTS: its element count
// (start, end, then one entry per node) and its bounds.
var rangeHeader = regexp.MustCompile(`\*(\d+)\r\n:\d+\r\n:\d+\r\n`)

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

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, master string // master: the id a replica follows
	isMaster         bool
	slots            []string // ranges as written: "0-5460", "5461"
}

func (c *Cluster) nodes() []clusterNode {
	reply := string(Command(c.Masters()[0].Addr(), "CLUSTER", "NODES"))
	var out []clusterNode
	for _, line := range strings.Split(reply, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		n := clusterNode{id: f[0], addr: strings.Split(f[1], "@")[0], master: f[3],
			isMaster: strings.Contains(f[2], "master") && !strings.Contains(f[2], "fail")}
		for _, s := range f[8:] {
			if !strings.HasPrefix(s, "[") {
				n.slots = append(n.slots, s)
			}
		}
		out = append(out, n)
	}
	return out
}

// Owner returns the address of the master serving slot.
func (c *Cluster) Owner(slot int) string {
	for _, n := range c.nodes() {
		for _, r := range n.slots {
			lo, hi, found := strings.Cut(r, "-")
			if !found {
				hi = lo
			}
			l, _ := strconv.Atoi(lo)
			h, _ := strconv.Atoi(hi)
			if n.isMaster && l <= slot && slot <= h {
				return n.addr
			}
		}
	}
	return ""
}

// OtherMaster returns the address of a master that does not serve slot.
func (c *Cluster) OtherMaster(slot int) string {
	owner := c.Owner(slot)
	for _, m := range c.Masters() {
		if m.Addr() != owner {
			return m.Addr()
		}
	}
	return ""
}

// MoveSlot migrates slot to the master at addr the way redis-cli
// --cluster reshard does: IMPORTING on the target, MIGRATING on the source,
// MIGRATE of its keys a few at a time (pausing between batches, so clients
// meet the slot mid-migration), then SETSLOT NODE on every master.
func (c *Cluster) MoveSlot(slot int, addr string, pause time.Duration) error {
	src := c.Owner(slot)
	if src == "" || src == addr {
		return fmt.Errorf("slot %d: owner %q, target %q", slot, src, addr)
	}
	srcID, dstID := NodeID(src), NodeID(addr)
	s := strconv.Itoa(slot)
	host, port, _ := net.SplitHostPort(addr)
	steps := []struct {
		addr string
		args []string
	}{
		{addr, []string{"CLUSTER", "SETSLOT", s, "IMPORTING", srcID}},
		{src, []string{"CLUSTER", "SETSLOT", s, "MIGRATING", dstID}},
	}
	for _, st := range steps {
		if r := string(Command(st.addr, st.args...)); !strings.HasPrefix(r, "+OK") {
			return fmt.Errorf("%v on %s: %q", st.args, st.addr, r)
		}
	}
	for {
		keys := Elems(string(Command(src, "CLUSTER", "GETKEYSINSLOT", s, "3")))
		if len(keys) == 0 {
			break
		}
		args := append([]string{"MIGRATE", host, port, "", "0", "5000", "REPLACE", "KEYS"}, keys...)
		if r := string(Command(src, args...)); !strings.HasPrefix(r, "+OK") && !strings.HasPrefix(r, "+NOKEY") {
			return fmt.Errorf("MIGRATE: %q", r)
		}
		time.Sleep(pause)
	}
	// The target first, then the source, then the rest: the order
	// redis-cli uses, so no node is left believing nobody owns the slot.
	order := []string{addr, src}
	for _, m := range c.Masters() {
		if m.Addr() != addr && m.Addr() != src {
			order = append(order, m.Addr())
		}
	}
	for _, a := range order {
		if r := string(Command(a, "CLUSTER", "SETSLOT", s, "NODE", dstID)); !strings.HasPrefix(r, "+OK") {
			return fmt.Errorf("SETSLOT NODE on %s: %q", a, r)
		}
	}
	return nil
}

// Failover promotes a replica of the master at addr with CLUSTER FAILOVER
// (the manual, safe kind) and waits until the cluster agrees. It returns
// the new master's address.
func (c *Cluster) Failover(addr string) (string, error) {
	id := NodeID(addr)
	for _, n := range c.nodes() {
		if n.master != id {
			continue
		}
		if r := string(Command(n.addr, "CLUSTER", "FAILOVER")); !strings.HasPrefix(r, "+OK") {
			return "", fmt.Errorf("CLUSTER FAILOVER on %s: %q", n.addr, r)
		}
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(string(Command(n.addr, "ROLE")), "master") {
				return n.addr, c.WaitStable(20 * time.Second)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return "", fmt.Errorf("replica %s did not take over", n.addr)
	}
	return "", fmt.Errorf("no replica of %s", addr)
}

// Elems reads the bulk strings of a raw array reply.
func Elems(raw string) []string {
	var out []string
	lines := strings.Split(raw, "\r\n")
	for i := 1; i+1 < len(lines); i += 2 {
		out = append(out, lines[i+1])
	}
	return out
}
