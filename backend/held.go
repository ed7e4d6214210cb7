package backend

import "context"

// OnHeld runs one command on a connection of its own on n: a command that
// blocks, or runs for as long as it likes, never holds up a shared
// connection. It follows MOVED and ASK as Do does, so a slot that moves
// while the command waits unblocks it with a redirect that is followed.
// run sends raws on c and returns the reply to the last of them (after
// ASKING's +OK when raws are two); an error from run ends it, with c
// closed. hidden notes every attempt as redverb's own for MONITOR (a retry
// the client saw elsewhere). The error is run's, or the failure to get a
// connection.
func (b *Backend) OnHeld(n *Node, key ConnKey, raw []byte, hidden bool, run func(c *Conn, raws [][]byte) ([]byte, error)) ([]byte, error) {
	raws := [][]byte{raw}
	for try := 0; ; try++ {
		c, err := n.Take(context.Background(), key)
		if err != nil {
			return nil, err
		}
		if hidden {
			c.NoteOwn(raws...)
		}
		reply, err := run(c, raws)
		if err != nil {
			c.nc.Close()
			return nil, err
		}
		c.Give()
		if len(raws) == 2 { // ASKING's +OK comes first
			reply = reply[len("+OK\r\n"):]
		}
		kind, slot, addr := parseRedirect(reply)
		if !b.caps.redirects || try == maxRedirects || (kind != movedTo && kind != askAt) {
			return reply, nil
		}
		raws = [][]byte{raw}
		if kind == askAt {
			raws = [][]byte{askingCmd, raw}
		} else {
			b.moved(slot, addr)
		}
		if n, err = b.nodeAt(addr); err != nil {
			return nil, err
		}
	}
}
