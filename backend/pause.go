package backend

import (
	"strconv"
	"strings"
	"time"
)

// CLIENT PAUSE WRITE holds the write commands of every client, and only
// those. Through redverb a held write would hold the shared connection it
// is on, and with it every other client's reads; so while a pause that
// redverb sent is in force, write commands go on connections of their own
// (and wait there, counted as blocked, as on Redis). CLIENT PAUSE ALL holds
// everything anyway.

// NotePause records a CLIENT PAUSE or UNPAUSE the backend accepted.
func (b *Backend) NotePause(args [][]byte) {
	if strings.EqualFold(string(args[1]), "unpause") {
		b.pausedUntil.Store(0)
		return
	}
	ms, err := strconv.ParseInt(string(args[2]), 10, 64)
	if err != nil || len(args) < 4 || !strings.EqualFold(string(args[3]), "write") {
		b.pausedUntil.Store(0)
		return
	}
	b.pausedUntil.Store(time.Now().Add(time.Duration(ms) * time.Millisecond).UnixNano())
}

// WritesPaused reports whether a CLIENT PAUSE WRITE is in force.
func (b *Backend) WritesPaused() bool {
	until := b.pausedUntil.Load()
	return until != 0 && time.Now().UnixNano() <= until
}
