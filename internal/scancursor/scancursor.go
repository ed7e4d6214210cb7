// Package scancursor is the SCAN cursor of several servers scanned one
// after the other as one: its low bits name the server being scanned (by
// index), the rest are that server's own cursor, so a full iteration
// visits every key once.
package scancursor

// NodeBits is how many low bits name the server.
const NodeBits = 10

// MaxServers is how many servers a cursor can name.
const MaxServers = 1 << NodeBits

// Decode splits a client's cursor into the server to ask and that
// server's own cursor.
func Decode(cursor uint64) (server int, own uint64) {
	return int(cursor & (MaxServers - 1)), cursor >> NodeBits
}

// Next is the client's next cursor after server (of servers) answered
// own: the same server while it has more, then the next server from its
// start, then 0 when the last one is done.
func Next(server, servers int, own uint64) uint64 {
	switch {
	case own != 0:
		return own<<NodeBits | uint64(server)
	case server+1 < servers:
		return uint64(server + 1)
	}
	return 0
}
