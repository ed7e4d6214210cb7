package proxy

import "bytes"

// route says where a command runs. Most commands are forwarded on a shared
// connection; the others need connection state that cannot be shared.
type route uint8

const (
	routeShared         route = iota // multiplexed with other clients' commands
	routeLocal                       // answered by the proxy (AUTH, SELECT, HELLO, ...)
	routeBlocking                    // may block: runs on a connection of its own
	routeTx                          // MULTI/WATCH: a connection of its own until EXEC/DISCARD/UNWATCH
	routeSubscribe                   // pub/sub: a connection of its own, streamed
	routeVerb                        // a registered verb (a script on the backend)
	routeMaybeBlocking               // blocking or shared depending on its options
	routeOutOfBand                   // must reach the backend while it is busy with someone else's command
	routeMaybeOutOfBand              // out of band or shared depending on its subcommand
	routeClusterWide                 // on a cluster, answered from several servers (see clusterwide.go)
	routeUnbounded                   // runs as long as it likes (a user script): a connection of its own
)

// routes holds every command that does not take routeShared. Names are
// lower case.
var routes = map[string]route{
	"multi": routeTx, "watch": routeTx,
	"subscribe": routeSubscribe, "psubscribe": routeSubscribe, "ssubscribe": routeSubscribe,
	"blpop": routeBlocking, "brpop": routeBlocking, "brpoplpush": routeBlocking,
	"blmove": routeBlocking, "blmpop": routeBlocking, "bzpopmin": routeBlocking,
	"bzpopmax": routeBlocking, "bzmpop": routeBlocking, "wait": routeBlocking,
	"waitaof": routeBlocking,
	// XREAD and XREADGROUP block only with the BLOCK option.
	"xread": routeMaybeBlocking, "xreadgroup": routeMaybeBlocking,
	"script": routeMaybeOutOfBand, "function": routeMaybeOutOfBand,
	"monitor": routeSubscribe,
	// Nobody bounds how long a user's script or DEBUG SLEEP runs: on a
	// shared connection every other client's commands would wait behind
	// it, where Redis answers them (-BUSY once the script passes
	// busy-reply-threshold) and takes SCRIPT KILL.
	"eval": routeUnbounded, "evalsha": routeUnbounded, "eval_ro": routeUnbounded,
	"evalsha_ro": routeUnbounded, "fcall": routeUnbounded, "fcall_ro": routeUnbounded,
	"debug": routeUnbounded,
}

// outOfBand are the subcommands that act on a backend busy with another
// client's command: a runaway script holds its connection, and everything
// queued behind it there, until SCRIPT KILL or FUNCTION KILL arrives on
// another connection. Redis runs exactly these while a script is busy
// (COMMAND flag allow_busy).
var outOfBand = map[string]bool{"script|kill": true, "function|kill": true, "function|stats": true}

// lowerName lower-cases a command name into buf (reused by the caller), so
// that map lookups written as m[string(name)] do not allocate.
func lowerName(buf []byte, name []byte) []byte {
	buf = buf[:0]
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// routeOf returns where a command runs.
func routeOf(name []byte, args [][]byte) route {
	r, ok := routes[string(name)]
	if !ok {
		return routeShared
	}
	if r == routeMaybeOutOfBand {
		r = routeShared
		if len(args) > 1 && outOfBand[string(name)+"|"+string(lowerName(nil, args[1]))] {
			r = routeOutOfBand
		}
	}
	if r == routeMaybeBlocking {
		r = routeShared
		for _, a := range args[1:] {
			if bytes.EqualFold(a, []byte("streams")) {
				break
			}
			if bytes.EqualFold(a, []byte("block")) {
				r = routeBlocking
				break
			}
		}
	}
	return r
}
