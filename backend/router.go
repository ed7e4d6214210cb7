package backend

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/keyspec"
	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/verb"
)

// Target says which server a command goes to: the master of a slot, with
// readBit a server that may serve reads of it (a replica when the backend
// reads from replicas), or noSlot for any master.
type Target int32

const (
	NoSlot  Target = -1
	readBit Target = 1 << 16
)

// TargetOf returns where a command goes, given its keys (nil: none). Only a cluster, or a Sentinel
// backend that reads from replicas, looks at the command; a standalone
// backend has one server, and Sentinel one master.
func (b *Backend) TargetOf(ck *keyspec.Command, args [][]byte) Target {
	if !b.caps.routesByKey {
		return NoSlot
	}
	i := ck.FirstKey(args)
	if i < 0 {
		return NoSlot
	}
	t := Target(keyslot.Slot(args[i]))
	if b.opts.ReadFromReplicas && ck.ReadOnly {
		t |= readBit
	}
	return t
}

// Master is t for a write: the slot's Master, never a replica.
func (t Target) Master() Target {
	if t == NoSlot {
		return t
	}
	return t &^ readBit
}

// nodeFor returns the node serving t.
func (b *Backend) nodeFor(t Target) (*Node, error) {
	if t == NoSlot {
		return b.Master(-1)
	}
	if t&readBit != 0 {
		return b.replica(int(t &^ readBit))
	}
	return b.Master(int(t))
}

// Routing is a session's scratch space for sending one batch, reused from
// batch to batch.
type Routing struct {
	Targets []Target      // per command; empty: every command to any master
	nodes   []*Node       // per command
	subs    []*Request    // one per server the batch touches
	subOf   []int         // per command, its index in subs
	taken   []int         // per sub, replies already moved into the batch
	servers []*Node       // per sub, its server
	pending atomic.Int32  // subs still waiting for replies
	done    chan struct{} // the last sub to complete signals here
	one     Request       // a single command resent after a redirect
}

// Do sends req.cmds, command i to rt.targets[i], and appends the replies to
// req.out in the commands' order, following MOVED and ASK redirects. A
// batch whose commands all go to one server is sent as it is.
func (b *Backend) Do(key ConnKey, session uint64, req *Request, rt *Routing) {
	req.Base, req.Ends, req.Overflow = len(req.Out), req.Ends[:0], false
	single, err := b.route(req, rt)
	if err != nil {
		req.failRest(err)
		return
	}
	if single {
		p, err := rt.nodes[0].pipeFor(key, session)
		if err != nil {
			req.failRest(err)
			return
		}
		p.do(req)
	} else {
		b.scatter(key, session, req, rt)
	}
	b.followRedirects(key, session, req, rt)
}

// route finds the server of each of req's commands (rt.nodes) and reports
// whether they are all one.
func (b *Backend) route(req *Request, rt *Routing) (single bool, err error) {
	rt.nodes = rt.nodes[:0]
	single, prev := true, NoSlot
	for i := range req.Cmds {
		t := NoSlot
		if i < len(rt.Targets) {
			t = rt.Targets[i]
		}
		if i > 0 && t == prev {
			rt.nodes = append(rt.nodes, rt.nodes[i-1])
			continue
		}
		prev = t
		n, err := b.nodeFor(t)
		if err != nil {
			return false, err
		}
		rt.nodes = append(rt.nodes, n)
		single = single && n == rt.nodes[0]
	}
	return single, nil
}

// Send sends req like Do but does not wait for its replies: Wait does. It
// sends only a request that stays in order behind after (a request of the
// same session sent earlier, nil if none is in flight): every command goes
// to one server, on the connection after went on. Otherwise it sends
// nothing and reports false; the caller waits for after and uses Do.
// req.Cmds must stay valid until Wait returns (a redirect resends them).
func (b *Backend) Send(key ConnKey, session uint64, req *Request, rt *Routing, after *Request) bool {
	single, err := b.route(req, rt)
	if err != nil || !single || len(rt.nodes) == 0 {
		return false
	}
	p, err := rt.nodes[0].pipeFor(key, session)
	if err != nil || (after != nil && after.pipe != p) {
		return false
	}
	if !p.send(req) {
		req.complete() // failed at once: its replies are errors
	}
	return true
}

// Answered is Wait for a request whose replies may not all be in yet: it
// reports false at once if they are not.
func (b *Backend) Answered(key ConnKey, session uint64, req *Request, rt *Routing) bool {
	select {
	case <-req.Done:
	default:
		return false
	}
	b.followRedirects(key, session, req, rt)
	return true
}

// Wait waits for a request Send sent, and follows the redirects among its
// replies.
func (b *Backend) Wait(key ConnKey, session uint64, req *Request, rt *Routing) {
	<-req.Done
	b.followRedirects(key, session, req, rt)
}

// OnNodes sends raw to every node in nodes at once, on the shared
// connections, and returns their replies in the nodes' order (limit bounds
// the replies' bytes as a session's output limit does; 0: none).
func (b *Backend) OnNodes(key ConnKey, session uint64, nodes []*Node, raw []byte, limit int) [][]byte {
	req := &Request{Limit: limit} // scatter signals on its routing, not on req
	for range nodes {
		req.Cmds = append(req.Cmds, raw)
	}
	b.scatter(key, session, req, &Routing{nodes: nodes})
	parts := make([][]byte, len(nodes))
	for i := range parts {
		parts[i] = req.Reply(i)
	}
	return parts
}

// scatter sends each server its share of the batch at once, waits for all
// of them, and puts the replies back in the batch's order.
func (b *Backend) scatter(key ConnKey, session uint64, req *Request, rt *Routing) {
	rt.subOf = rt.subOf[:0]
	servers := rt.servers[:0]
	for _, n := range rt.nodes {
		i := 0
		for i < len(servers) && servers[i] != n {
			i++
		}
		if i == len(servers) {
			servers = append(servers, n)
		}
		rt.subOf = append(rt.subOf, i)
	}
	if rt.done == nil {
		rt.done = make(chan struct{}, 1)
	}
	for len(rt.subs) < len(servers) {
		rt.subs = append(rt.subs, &Request{Done: rt.done, pending: &rt.pending})
	}
	rt.servers = servers
	rt.taken = rt.taken[:0]
	for range servers {
		rt.taken = append(rt.taken, 0)
	}
	for _, sub := range rt.subs[:len(servers)] {
		sub.Cmds, sub.Out, sub.Limit = sub.Cmds[:0], sub.Out[:0], req.Limit
	}
	for j, c := range req.Cmds {
		sub := rt.subs[rt.subOf[j]]
		sub.Cmds = append(sub.Cmds, c)
	}
	rt.pending.Store(int32(len(servers)))
	finished := false // every sub failed at once: nothing will signal
	for i, n := range servers {
		sub := rt.subs[i]
		p, err := n.pipeFor(key, session)
		if err != nil {
			sub.Base, sub.Ends = 0, sub.Ends[:0]
			sub.failRest(err)
		} else if p.send(sub) {
			continue
		}
		finished = rt.pending.Add(-1) == 0
	}
	if !finished {
		<-rt.done
	}
	for j := range req.Cmds {
		i := rt.subOf[j]
		sub := rt.subs[i]
		req.Out = append(req.Out, sub.Reply(rt.taken[i])...)
		req.Ends = append(req.Ends, len(req.Out))
		rt.taken[i]++
		req.Overflow = req.Overflow || sub.Overflow
	}
	clear(rt.servers)
	for _, sub := range rt.subs[:len(servers)] {
		clear(sub.Cmds)
		if cap(sub.Out) > 64<<10 {
			sub.Out = nil
		}
	}
}

// maxRedirects bounds how often one command follows redirects or waits out
// a slot in migration or a failover (-TRYAGAIN, -CLUSTERDOWN, a demoted
// master's -READONLY) before the client gets the error.
const maxRedirects = 16

// followRedirects resends the commands the cluster redirected (MOVED: the
// slot lives elsewhere now; ASK: this key is being migrated) or refused for
// the moment. None of these replies means the command ran, so a resend
// never runs a command twice. Replies are replaced in place. A backend
// that never redirects is not looked at.
func (b *Backend) followRedirects(key ConnKey, session uint64, req *Request, rt *Routing) {
	if !b.caps.redirects {
		return
	}
	redirected := false
	for i := range req.Ends {
		if reply := req.Reply(i); reply[0] == '-' && redirectOf(reply) != notRedirect {
			redirected = true
			break
		}
	}
	if !redirected || req.Overflow {
		return
	}
	replies := make([][]byte, len(req.Ends))
	for i := range req.Ends {
		replies[i] = append([]byte(nil), req.Reply(i)...)
	}
	for i, reply := range replies {
		t := NoSlot
		if i < len(rt.Targets) {
			t = rt.Targets[i]
		}
		replies[i] = b.resend(key, session, req.Cmds[i], t, reply, rt)
	}
	req.Out, req.Ends = req.Out[:req.Base], req.Ends[:0]
	for _, reply := range replies {
		req.Out = append(req.Out, reply...)
		req.Ends = append(req.Ends, len(req.Out))
	}
}

// resend follows one command's redirects until it gets a real reply.
func (b *Backend) resend(key ConnKey, session uint64, cmd []byte, t Target, reply []byte, rt *Routing) []byte {
	one := &rt.one
	if one.Done == nil {
		one.Done = make(chan struct{}, 1)
	}
	wait := 20 * time.Millisecond
	for try := 0; try < maxRedirects; try++ {
		kind, slot, addr := parseRedirect(reply)
		var n *Node
		var err error
		one.Cmds = append(one.Cmds[:0], cmd)
		switch kind {
		case notRedirect:
			return reply
		case movedTo:
			b.moved(slot, addr)
			n, err = b.nodeAt(addr)
		case askAt:
			n, err = b.nodeAt(addr)
			one.Cmds = append(one.Cmds[:0], askingCmd, cmd)
		case retryLater:
			if bytes.HasPrefix(reply, []byte("-READONLY")) {
				b.moved(-1, "") // a demoted master: reload the topology
			}
			time.Sleep(wait)
			wait = min(2*wait, 500*time.Millisecond)
			n, err = b.nodeFor(t)
		}
		var p *pipe
		if err == nil {
			p, err = n.pipeFor(key, session)
		}
		one.Out = one.Out[:0]
		if err != nil {
			one.Base, one.Ends = 0, one.Ends[:0]
			one.failRest(err)
		} else {
			p.do(one)
		}
		reply = append([]byte(nil), one.Reply(len(one.Cmds)-1)...)
	}
	return reply
}

var askingCmd = resp.AppendCommand(nil, []byte("ASKING"))

type redirectKind uint8

const (
	notRedirect redirectKind = iota
	movedTo                  // -MOVED slot host:port
	askAt                    // -ASK slot host:port
	retryLater               // -TRYAGAIN, -CLUSTERDOWN, -READONLY: not run; try again shortly
)

// IsRedirect reports whether a reply is a MOVED or ASK redirect.
func IsRedirect(reply []byte) bool {
	kind := redirectOf(reply)
	return kind == movedTo || kind == askAt
}

func redirectOf(reply []byte) redirectKind {
	kind, _, _ := parseRedirect(reply)
	return kind
}

// parseRedirect reads a redirect or retry error reply.
func parseRedirect(reply []byte) (redirectKind, int, string) {
	if len(reply) == 0 || reply[0] != '-' {
		return notRedirect, 0, ""
	}
	line := reply[1 : len(reply)-2]
	for _, p := range [...]string{"TRYAGAIN", "CLUSTERDOWN", "READONLY"} {
		if bytes.HasPrefix(line, []byte(p)) {
			return retryLater, 0, ""
		}
	}
	kind := notRedirect
	switch {
	case bytes.HasPrefix(line, []byte("MOVED ")):
		kind = movedTo
	case bytes.HasPrefix(line, []byte("ASK ")):
		kind = askAt
	default:
		return notRedirect, 0, ""
	}
	f := bytes.Fields(line)
	if len(f) != 3 {
		return notRedirect, 0, ""
	}
	slot, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return notRedirect, 0, ""
	}
	return kind, slot, string(f[2])
}

// CallTarget is where a call runs: the master serving its keys' slot
// (any server outside a cluster, where hashing the key would be wasted).
func (b *Backend) CallTarget(c *verb.Call) Target {
	if len(c.Keys) == 0 || !b.SeveralServers() {
		return NoSlot
	}
	return Target(keyslot.Slot(c.Keys[0]))
}
