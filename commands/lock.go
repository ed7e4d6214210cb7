package commands

import (
	"bytes"
	"errors"
	"strconv"
	"time"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/verb"
)

// LockReleased is the channel UNLOCK publishes a released key on, so that
// proxies waiting in LOCK ... WAIT retry at once.
const LockReleased = "redverb:lock-released"

var errTimeout = errors.New("timeout is negative")

// checkLock: LOCK key token ttl-ms [WAIT timeout-ms] [FENCE].
// Keys: lock[, fencing counter]. Script ARGV: token, ttl-ms, fence, report.
func checkLock(args [][]byte, call *verb.Call, mayWait bool) error {
	if len(args) < 3 {
		return arityError("lock")
	}
	ttl, err := parseExpire("lock", bs("PX"), args[2])
	if err != nil {
		return err
	}
	fence, wait := false, int64(-1)
	for i := 3; i < len(args); i++ {
		switch {
		case is(args[i], "FENCE") && !fence:
			fence = true
		case is(args[i], "WAIT") && wait < 0 && i+1 < len(args):
			if wait, err = parseInt(args[i+1]); err != nil {
				return err
			}
			if wait < 0 {
				return errTimeout
			}
			i++
		default:
			return errSyntax
		}
	}
	call.Keys = [][]byte{args[0]} // its own array: FENCE appends to it
	flag := "0"
	if fence {
		flag = "1"
		call.Keys = append(call.Keys, fenceKey(args[0]))
	}
	report := "0"
	if wait > 0 && mayWait {
		report = "1"
		call.Deadline = time.Now().Add(time.Duration(wait) * time.Millisecond)
		call.WakeChannel, call.Wake = LockReleased, string(args[0])
		call.Retry = lockRetry
		call.Convert = lockFailed
	}
	call.Args = [][]byte{args[1], bs(ttl), bs(flag), bs(report)}
	return nil
}

// fenceKey names the counter of fencing tokens for a lock. It must live in
// the lock's cluster slot and outlive the lock, so it reuses the lock key's
// hash tag or makes the lock key one. A key with a '}' but no hash tag
// cannot be wrapped in braces (the tag would end at its '}'), so its
// counter gets the first numbered name that hashes to the lock's slot.
func fenceKey(lock []byte) []byte {
	if keyslot.HashTag(lock) != nil {
		return append(append([]byte{}, lock...), ":fence"...)
	}
	if bytes.IndexByte(lock, '}') < 0 {
		return append(append(append([]byte("{"), lock...), '}'), ":fence"...)
	}
	slot := keyslot.Slot(lock)
	name := append(append([]byte{}, lock...), ":fence:"...)
	for i := 0; ; i++ {
		key := strconv.AppendInt(name, int64(i), 10)
		if keyslot.Slot(key) == slot {
			return key
		}
	}
}

// lockRetry reads the script's "not acquired" answer {0, pttl}: wait for a
// release or for the holder's lease to run out, then try again.
func lockRetry(reply []byte) (bool, time.Duration) {
	if len(reply) == 0 || reply[0] != '*' {
		return false, 0
	}
	fields := resp.SplitArray(reply)
	if len(fields) != 2 {
		return false, 0
	}
	pttl, err := strconv.ParseInt(string(fields[1][1:len(fields[1])-2]), 10, 64)
	if err != nil || pttl < 0 {
		return true, time.Hour // no expiry: only a release or the deadline ends the wait
	}
	return true, time.Duration(pttl) * time.Millisecond
}

// lockFailed turns the waiting form of "not acquired" into SPEC's 0.
func lockFailed(reply []byte) []byte {
	if len(reply) > 0 && reply[0] == '*' {
		return []byte(":0\r\n")
	}
	return reply
}

// checkRenew: RENEW key token ttl-ms.
func checkRenew(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) != 3 {
		return arityError("renew")
	}
	ttl, err := parseExpire("renew", bs("PX"), args[2])
	if err != nil {
		return err
	}
	call.Keys, call.Args = args[:1], [][]byte{args[1], bs(ttl)}
	return nil
}
