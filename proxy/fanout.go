package proxy

import (
	"bytes"
	"context"

	"go.uber.org/zap"

	"github.com/redverb/redverb/internal/resp"
)

// A subscriber's connection is to one master. One server would also show
// it what a cluster's other masters see: MONITOR lines of the commands
// they run, and the keyspace notifications they publish, each master for
// its own keys only. So a MONITOR, and a subscription that can match a
// keyspace notification, are sent to every other master as well, and what
// those masters stream back is passed on with everything else dropped:
// their confirmations, and ordinary messages (cluster pub/sub already
// brings every PUBLISH to the subscriber's own master). With one master
// (standalone, Sentinel) there is no other master and nothing to do.

var keyspacePrefixes = [][]byte{[]byte("__keyspace@"), []byte("__keyevent@")}

// fansOut reports whether the other masters must see a streaming
// command: MONITOR, a (P)SUBSCRIBE that can match a keyspace notification,
// and any subscribe-family command once they see subscriptions.
func (sub *subscriber) fansOut(name []byte, args [][]byte) bool {
	switch string(name) {
	case "monitor":
		return true
	case "unsubscribe", "punsubscribe":
		return sub.others != nil
	case "subscribe", "psubscribe":
		if sub.others != nil {
			return true
		}
		for _, a := range args[1:] {
			if mayMatchKeyspace(a, name[0] == 'p') {
				return true
			}
		}
	}
	return false
}

// mayMatchKeyspace reports whether a channel, or a glob pattern, can name
// a keyspace notification: its literal start and the notification's
// prefix agree as far as both go.
func mayMatchKeyspace(channel []byte, pattern bool) bool {
	lit := channel
	if pattern && len(channel) > 0 {
		if i := bytes.IndexAny(channel, `*?[\`); i >= 0 {
			lit = channel[:i]
		}
	}
	for _, p := range keyspacePrefixes {
		n := min(len(lit), len(p))
		if bytes.Equal(lit[:n], p[:n]) && (len(lit) >= len(p) || pattern && len(lit) < len(channel)) {
			return true
		}
	}
	return false
}

// sendOthers writes raw to every other master, opening connections to
// them first if needed.
func (sub *subscriber) sendOthers(raw []byte) {
	if sub.others == nil {
		sub.others = []*conn{}
		masters, err := sub.s.srv.Backend.masters()
		if err != nil {
			sub.push(appendBackendError(nil, err))
			return
		}
		for _, n := range masters {
			if n == sub.c.node {
				continue
			}
			c, err := n.take(context.Background(), sub.s.key())
			if err != nil {
				sub.push(appendBackendError(nil, err))
				continue
			}
			sub.mu.Lock()
			stopped := sub.stopped
			if !stopped {
				sub.others = append(sub.others, c)
			}
			sub.mu.Unlock()
			if stopped {
				c.nc.Close()
				return
			}
			go sub.readOther(c)
		}
	}
	for _, c := range sub.others {
		c.noteOwn(raw) // the client's MONITOR sees the command once, from its own master
		if _, err := c.nc.Write(raw); err != nil {
			sub.push(appendBackendError(nil, err))
		}
	}
}

// readOther passes on what one other master streams that the subscriber's
// own master cannot: its MONITOR lines and keyspace notifications.
func (sub *subscriber) readOther(c *conn) {
	var frame []byte
	for {
		var err error
		frame, err = resp.ReadReply(c.r, frame[:0])
		if err != nil {
			sub.mu.Lock()
			stopped := sub.stopped
			sub.mu.Unlock()
			if !stopped {
				sub.s.srv.log.Warn("pub/sub backend connection lost", zap.Uint64("client", sub.s.id), zap.Error(err))
				sub.s.nc.Close()
			}
			return
		}
		var pass bool
		if sub.feed != nil {
			pass = frame[0] == '+' && string(frame) != "+OK\r\n" && !sub.feed.hides(frame)
		} else {
			pass = isKeyspaceMessage(frame)
		}
		if pass && !sub.push(frame) {
			sub.s.nc.Close()
			return
		}
	}
}

// isKeyspaceMessage reports whether frame is a message or pmessage whose
// channel is a keyspace notification's.
func isKeyspaceMessage(frame []byte) bool {
	elems := resp.SplitArray(frame)
	if len(elems) < 3 {
		return false
	}
	kind, _ := resp.BulkValue(elems[0])
	var channel []byte
	switch string(kind) {
	case "message":
		channel, _ = resp.BulkValue(elems[1])
	case "pmessage":
		if len(elems) < 4 {
			return false
		}
		channel, _ = resp.BulkValue(elems[2])
	default:
		return false
	}
	for _, p := range keyspacePrefixes {
		if bytes.HasPrefix(channel, p) {
			return true
		}
	}
	return false
}
