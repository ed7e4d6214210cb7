package proxy

import (
	"bytes"
	"context"
	"maps"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/internal/resp"
)

// A subscriber's connection is to one master. One server would also show
// it what a cluster's other masters see: MONITOR lines of the commands
// they run, and the keyspace notifications they publish, each master for
// its own keys only, and the invalidations of clients tracking keys there
// (CLIENT TRACKING ... REDIRECT). So a MONITOR, and a subscription that can
// match such a channel, are sent to every other master as well, and what
// those masters stream back is passed on with everything else dropped:
// their confirmations, and ordinary messages (cluster pub/sub already
// brings every PUBLISH to the subscriber's own master). With one master
// (standalone, Sentinel) there is no other master and nothing to do.

var keyspacePrefixes = [][]byte{[]byte("__keyspace@"), []byte("__keyevent@")}

// invalidateChannel is where a master sends the invalidations of CLIENT
// TRACKING ... REDIRECT: to the redirect client's connection on that
// master, so a client subscribed to it needs a connection on every master.
var invalidateChannel = []byte("__redis__:invalidate")

// fansOut reports whether the other masters must see a streaming
// command: MONITOR, a (P)SUBSCRIBE that can match a server's own channel,
// and any subscribe-family command once they see subscriptions.
func (sub *subscriber) fansOut(name string, args [][]byte) bool {
	switch name {
	case "monitor":
		return true
	case "unsubscribe", "punsubscribe":
		return sub.others != nil
	case "subscribe", "psubscribe":
		if sub.others != nil {
			return true
		}
		for _, a := range args[1:] {
			if mayMatchServerChannel(a, name[0] == 'p') {
				return true
			}
		}
	}
	return false
}

// mayMatchServerChannel reports whether a channel, or a glob pattern, can
// name a channel each master publishes on for itself: a keyspace
// notification's (its literal start and the notification's prefix agree
// as far as both go) or the invalidation channel.
func mayMatchServerChannel(channel []byte, pattern bool) bool {
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
	if pattern && len(lit) < len(channel) {
		return bytes.HasPrefix(invalidateChannel, lit)
	}
	return bytes.Equal(lit, invalidateChannel)
}

// sendOthers writes raw to every other master, opening connections to
// them first if needed, and waits until each has confirmed it (MONITOR,
// and each channel of a (P)SUBSCRIBE): the client's own confirmation
// comes after, and with it the promise that every master reports from
// then on.
func (sub *subscriber) sendOthers(name string, args [][]byte, raw []byte) {
	if sub.others == nil {
		sub.others = []*backend.Conn{}
		sub.acks = make(chan struct{}, 1024)
		masters, err := sub.s.srv.Backend.Masters()
		if err != nil {
			sub.push(appendBackendError(nil, err))
			return
		}
		for _, n := range masters {
			if n == sub.c.Node {
				continue
			}
			c, err := n.Take(context.Background(), sub.s.key())
			if err != nil {
				sub.push(appendBackendError(nil, err))
				continue
			}
			if id := c.BackendID(); id != 0 { // before readOther owns reading c
				ids := maps.Clone(*sub.s.streamIDs.Load())
				ids[n] = id
				sub.s.streamIDs.Store(&ids)
			}
			sub.mu.Lock()
			stopped := sub.stopped
			if !stopped {
				sub.others = append(sub.others, c)
			}
			sub.mu.Unlock()
			if stopped {
				c.Close()
				return
			}
			go sub.readOther(c)
		}
	}
	for _, c := range sub.others {
		c.NoteOwn(raw) // the client's MONITOR sees the command once, from its own master
		if err := c.Write(raw); err != nil {
			sub.push(appendBackendError(nil, err))
		}
	}
	want := 0
	switch name {
	case "monitor":
		want = 1
	case "subscribe", "psubscribe":
		want = len(args) - 1
	}
	timeout := time.After(5 * time.Second) // a master that does not answer fails on its own
	for range want * len(sub.others) {
		select {
		case <-sub.acks:
		case <-timeout:
			return
		}
	}
}

// confirmsSubscription reports whether frame is a MONITOR's +OK or a
// (P)SUBSCRIBE's confirmation of one channel.
func confirmsSubscription(frame []byte) bool {
	if string(frame) == "+OK\r\n" {
		return true
	}
	if elems := resp.SplitArray(frame); len(elems) == 3 {
		kind, _ := resp.BulkValue(elems[0])
		return string(kind) == "subscribe" || string(kind) == "psubscribe"
	}
	return false
}

// readOther passes on what one other master streams that the subscriber's
// own master cannot: its MONITOR lines, keyspace notifications and
// invalidations.
func (sub *subscriber) readOther(c *backend.Conn) {
	var frame []byte
	for {
		var err error
		frame, err = c.ReadFrame(frame[:0])
		if err != nil {
			sub.lost(err)
			return
		}
		if confirmsSubscription(frame) {
			select {
			case sub.acks <- struct{}{}:
			default:
			}
			continue
		}
		var pass bool
		if sub.feed != nil {
			pass = frame[0] == '+' && !sub.feed.Hides(frame)
		} else {
			pass = isServerMessage(frame)
		}
		if pass && !sub.push(frame) {
			sub.s.nc.Close()
			return
		}
	}
}

// isServerMessage reports whether frame is a message or pmessage on a
// channel each master publishes on for itself.
func isServerMessage(frame []byte) bool {
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
	return mayMatchServerChannel(channel, false)
}
