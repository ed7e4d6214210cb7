package backend

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/internal/resp"
)

// One Redis running a script past busy-reply-threshold answers every other
// client -BUSY until the script ends or is killed. A cluster has several
// masters, and only the one running the script is busy; so that a cluster
// behind redverb looks like one server, redverb answers -BUSY itself for
// every master while a user script it sent has run past the threshold.
// Scripts sent to the cluster by other proxies or directly are not seen.

// busyScripts tracks the user scripts running through this redverb.
type busyScripts struct {
	running atomic.Int32 // fast path: nothing runs
	mu      sync.Mutex
	started map[*int]busyScript
	// thresholdMS is busy-reply-threshold, -1 until read from a master;
	// CONFIG SET through redverb updates it.
	thresholdMS atomic.Int64
}

type busyScript struct {
	at       time.Time
	function bool // FCALL: the reply names FUNCTION KILL
}

var (
	busyEvalReply     = []byte("-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n")
	busyFunctionReply = []byte("-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n")
)

// ScriptStarted records a user script sent on a cluster, until done is
// called. One server is busy by itself: nothing to record.
func (b *Backend) ScriptStarted(function bool) (done func()) {
	if !b.SeveralServers() {
		return func() {}
	}
	bs := &b.scripts
	if bs.thresholdMS.Load() < 0 {
		bs.thresholdMS.Store(b.readBusyThreshold())
	}
	token := new(int)
	bs.mu.Lock()
	if bs.started == nil {
		bs.started = map[*int]busyScript{}
	}
	bs.started[token] = busyScript{at: time.Now(), function: function}
	bs.mu.Unlock()
	bs.running.Add(1)
	return func() {
		bs.mu.Lock()
		delete(bs.started, token)
		bs.mu.Unlock()
		bs.running.Add(-1)
	}
}

// BusyReply is Redis's -BUSY reply if a script sent through redverb has run
// past the threshold, else nil.
func (b *Backend) BusyReply() []byte {
	bs := &b.scripts
	if bs.running.Load() == 0 {
		return nil
	}
	limit := time.Duration(bs.thresholdMS.Load()) * time.Millisecond
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for _, s := range bs.started {
		if time.Since(s.at) > limit {
			if s.function {
				return busyFunctionReply
			}
			return busyEvalReply
		}
	}
	return nil
}

// SlowlogMaxLen is slowlog-max-len: read from a master once (at the
// default slowlog-log-slower-than, the read is not logged), then kept in
// step by CONFIG SET through redverb (NoteConfigSet).
func (b *Backend) SlowlogMaxLen() int {
	if b.slowlogMax.Load() < 0 {
		b.slowlogMax.CompareAndSwap(-1, b.readConfigInt("slowlog-max-len", -1))
	}
	return int(b.slowlogMax.Load())
}

// readBusyThreshold asks a master for busy-reply-threshold (5 s, Redis's
// default, if it cannot tell).
func (b *Backend) readBusyThreshold() int64 {
	return b.readConfigInt("busy-reply-threshold", 5000)
}

// readConfigInt reads a numeric setting from a master, out of band;
// fallback if it cannot.
func (b *Backend) readConfigInt(name string, fallback int64) int64 {
	n, err := b.Master(-1)
	if err != nil {
		return fallback
	}
	reply, err := n.OutOfBand(ConnKey{Proto: 2}, []byte("CONFIG"), []byte("GET"), []byte(name))
	if err != nil {
		return fallback
	}
	if f := resp.SplitArray(reply); len(f) == 2 {
		v, _ := resp.BulkValue(f[1])
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n
		}
	}
	return fallback
}

// NoteConfigSet keeps the settings redverb reads (busy-reply-threshold,
// whose older name is lua-time-limit, and slowlog-max-len) in step with a
// CONFIG SET sent through redverb.
func (b *Backend) NoteConfigSet(args [][]byte) {
	for i := 2; i+1 < len(args); i += 2 {
		v, err := strconv.ParseInt(string(args[i+1]), 10, 64)
		if err != nil {
			continue
		}
		switch strings.ToLower(string(args[i])) {
		case "busy-reply-threshold", "lua-time-limit":
			b.scripts.thresholdMS.Store(v)
		case "slowlog-max-len":
			b.slowlogMax.Store(v)
		}
	}
}
