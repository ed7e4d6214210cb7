package backend

import (
	"context"

	"github.com/redverb/redverb/internal/resp"
)

// OutOfBand sends one command of redverb's own on a pooled connection and
// returns its reply.
func (n *Node) OutOfBand(key ConnKey, args ...[]byte) ([]byte, error) {
	return n.oneCommand(key, true, args...)
}

// ClientOutOfBand is outOfBand for a client's command, which MONITOR shows.
func (n *Node) ClientOutOfBand(key ConnKey, args ...[]byte) ([]byte, error) {
	return n.oneCommand(key, false, args...)
}

func (n *Node) oneCommand(key ConnKey, own bool, args ...[]byte) ([]byte, error) {
	c, err := n.Take(context.Background(), key)
	if err != nil {
		return nil, err
	}
	var reply []byte
	if own {
		reply, err = c.RoundTrip(args...)
	} else {
		reply, err = c.send(resp.AppendCommand(nil, args...))
	}
	if err != nil {
		c.nc.Close()
		return nil, ErrBackend{err}
	}
	c.Give()
	return reply, nil
}

// BackendID returns the backend's CLIENT ID for c, asking once per
// connection. Zero means the backend would not say.
func (c *Conn) BackendID() int64 {
	if c.ID != 0 || c.Tracker != nil { // a tracker owns reading the connection
		return c.ID
	}
	if reply, err := c.RoundTrip([]byte("CLIENT"), []byte("ID")); err == nil {
		c.ID = int64(resp.Int(reply))
	}
	return c.ID
}
