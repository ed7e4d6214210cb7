package proxy

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/keyspec"
	"github.com/redverb/redverb/internal/resp"
)

// target says which server a command goes to: the master of a slot, with
// readBit a server that may serve reads of it (a replica when the backend
// reads from replicas), or noSlot for any master.
type target int32

const (
	noSlot  target = -1
	readBit target = 1 << 16
)

// targetOf returns where a command goes, given its keys (nil: none). Only a cluster, or a Sentinel
// backend that reads from replicas, looks at the command; a standalone
// backend has one server, and Sentinel one master.
func (b *Backend) targetOf(ck *keyspec.Command, args [][]byte) target {
	if !b.caps.routesByKey {
		return noSlot
	}
	i := ck.FirstKey(args)
	if i < 0 {
		return noSlot
	}
	t := target(keyslot.Slot(args[i]))
	if b.opts.ReadFromReplicas && ck.ReadOnly {
		t |= readBit
	}
	return t
}

// master is t for a write: the slot's master, never a replica.
func (t target) master() target {
	if t == noSlot {
		return t
	}
	return t &^ readBit
}

// nodeFor returns the node serving t.
func (b *Backend) nodeFor(t target) (*node, error) {
	if t == noSlot {
		return b.master(-1)
	}
	if t&readBit != 0 {
		return b.replica(int(t &^ readBit))
	}
	return b.master(int(t))
}

// routing is a session's scratch space for sending one batch, reused from
// batch to batch.
type routing struct {
	targets []target      // per command; empty: every command to any master
	nodes   []*node       // per command
	subs    []*request    // one per server the batch touches
	subOf   []int         // per command, its index in subs
	taken   []int         // per sub, replies already moved into the batch
	servers []*node       // per sub, its server
	pending atomic.Int32  // subs still waiting for replies
	done    chan struct{} // the last sub to complete signals here
	one     request       // a single command resent after a redirect
}

// do sends req.cmds, command i to rt.targets[i], and appends the replies to
// req.out in the commands' order, following MOVED and ASK redirects. A
// batch whose commands all go to one server is sent as it is.
func (b *Backend) do(key connKey, session uint64, req *request, rt *routing) {
	req.base, req.ends, req.overflow = len(req.out), req.ends[:0], false
	rt.nodes = rt.nodes[:0]
	single, prev := true, noSlot
	for i := range req.cmds {
		t := noSlot
		if i < len(rt.targets) {
			t = rt.targets[i]
		}
		if i > 0 && t == prev {
			rt.nodes = append(rt.nodes, rt.nodes[i-1])
			continue
		}
		prev = t
		n, err := b.nodeFor(t)
		if err != nil {
			req.failRest(err)
			return
		}
		rt.nodes = append(rt.nodes, n)
		single = single && n == rt.nodes[0]
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
	if b.caps.redirects {
		b.followRedirects(key, session, req, rt)
	}
}

// scatter sends each server its share of the batch at once, waits for all
// of them, and puts the replies back in the batch's order.
func (b *Backend) scatter(key connKey, session uint64, req *request, rt *routing) {
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
		rt.subs = append(rt.subs, &request{done: rt.done, pending: &rt.pending})
	}
	rt.servers = servers
	rt.taken = rt.taken[:0]
	for range servers {
		rt.taken = append(rt.taken, 0)
	}
	for _, sub := range rt.subs[:len(servers)] {
		sub.cmds, sub.out, sub.limit = sub.cmds[:0], sub.out[:0], req.limit
	}
	for j, c := range req.cmds {
		sub := rt.subs[rt.subOf[j]]
		sub.cmds = append(sub.cmds, c)
	}
	rt.pending.Store(int32(len(servers)))
	finished := false // every sub failed at once: nothing will signal
	for i, n := range servers {
		sub := rt.subs[i]
		p, err := n.pipeFor(key, session)
		if err != nil {
			sub.base, sub.ends = 0, sub.ends[:0]
			sub.failRest(err)
		} else if p.send(sub) {
			continue
		}
		finished = rt.pending.Add(-1) == 0
	}
	if !finished {
		<-rt.done
	}
	for j := range req.cmds {
		i := rt.subOf[j]
		sub := rt.subs[i]
		req.out = append(req.out, sub.reply(rt.taken[i])...)
		req.ends = append(req.ends, len(req.out))
		rt.taken[i]++
		req.overflow = req.overflow || sub.overflow
	}
	clear(rt.servers)
	for _, sub := range rt.subs[:len(servers)] {
		clear(sub.cmds)
		if cap(sub.out) > 64<<10 {
			sub.out = nil
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
// never runs a command twice. Replies are replaced in place.
func (b *Backend) followRedirects(key connKey, session uint64, req *request, rt *routing) {
	redirected := false
	for i := range req.ends {
		if reply := req.reply(i); reply[0] == '-' && redirectOf(reply) != notRedirect {
			redirected = true
			break
		}
	}
	if !redirected || req.overflow {
		return
	}
	replies := make([][]byte, len(req.ends))
	for i := range req.ends {
		replies[i] = append([]byte(nil), req.reply(i)...)
	}
	for i, reply := range replies {
		t := noSlot
		if i < len(rt.targets) {
			t = rt.targets[i]
		}
		replies[i] = b.resend(key, session, req.cmds[i], t, reply, rt)
	}
	req.out, req.ends = req.out[:req.base], req.ends[:0]
	for _, reply := range replies {
		req.out = append(req.out, reply...)
		req.ends = append(req.ends, len(req.out))
	}
}

// resend follows one command's redirects until it gets a real reply.
func (b *Backend) resend(key connKey, session uint64, cmd []byte, t target, reply []byte, rt *routing) []byte {
	one := &rt.one
	if one.done == nil {
		one.done = make(chan struct{}, 1)
	}
	wait := 20 * time.Millisecond
	for try := 0; try < maxRedirects; try++ {
		kind, slot, addr := parseRedirect(reply)
		var n *node
		var err error
		one.cmds = append(one.cmds[:0], cmd)
		switch kind {
		case notRedirect:
			return reply
		case movedTo:
			b.moved(slot, addr)
			n, err = b.nodeAt(addr)
		case askAt:
			n, err = b.nodeAt(addr)
			one.cmds = append(one.cmds[:0], askingCmd, cmd)
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
		one.out = one.out[:0]
		if err != nil {
			one.base, one.ends = 0, one.ends[:0]
			one.failRest(err)
		} else {
			p.do(one)
		}
		reply = append([]byte(nil), one.reply(len(one.cmds)-1)...)
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
