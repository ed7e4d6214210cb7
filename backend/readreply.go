package backend

import "github.com/redverb/redverb/internal/resp"

// frameReader owns reading a connection: it hands out every frame read,
// pushes and replies.
type frameReader interface {
	Next() ([]byte, error)
}

// ReadReply reads the next reply on c into dst. On a tracking connection
// the pushes before it (RESP3 invalidations) are appended too, in their
// place, and do not count as the reply.
func (c *Conn) ReadReply(dst []byte) ([]byte, error) {
	if c.Tracker == nil {
		return resp.ReadReply(c.r, dst)
	}
	for {
		f, err := c.Tracker.Next()
		if err != nil {
			return dst, err
		}
		dst = append(dst, f...)
		if f[0] != '>' {
			return dst, nil
		}
	}
}
