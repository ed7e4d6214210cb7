package commands

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/zeebo/xxh3"

	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/verb"
)

// digestLen is the length of a digest as DIGEST prints it and IFDEQ/IFDNE
// take it: XXH3-64 in 16 hex digits, leading zeros kept.
const digestLen = 16

var errDigest = fmt.Errorf("must be exactly %d hexadecimal characters", digestLen)

// digest is Redis 8.4's DIGEST of a string value.
func digest(value []byte) string { return fmt.Sprintf("%016x", xxh3.Hash(value)) }

// checkDigest: DIGEST key. The script reads the value; the proxy hashes it.
func checkDigest(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) != 1 {
		return arityError("digest")
	}
	call.Keys = args
	call.Convert = func(reply []byte) []byte {
		if value, ok := resp.BulkValue(reply); ok {
			return resp.AppendBulk(nil, digest(value))
		}
		return reply // nil: no such key
	}
	return nil
}

// checkDigestArg validates an IFDEQ/IFDNE digest as Redis does: exactly 16
// hex digits, in either case.
func checkDigestArg(b []byte) error {
	if len(b) != digestLen {
		return errDigest
	}
	if _, err := strconv.ParseUint(string(b), 16, 64); err != nil {
		return errDigest
	}
	return nil
}

// keyState reads the reply of a script run with condition READ (or a
// failed SAME/ABSENT): the key's value, or found false if missing. ok is
// false for any other reply.
func keyState(reply []byte) (value []byte, found, ok bool) {
	if len(reply) == 0 || reply[0] != '*' {
		return nil, false, false
	}
	elems := resp.SplitArray(reply)
	switch len(elems) {
	case 0:
		return nil, false, true
	case 1:
		value, found = resp.BulkValue(elems[0])
		// A copy: the reply's buffer holds the next step's reply.
		return bytes.Clone(value), found, found
	}
	return nil, false, false
}

// maxDigestTries bounds the rounds of a digest condition whose value keeps
// changing between the read and the compare-and-set.
const maxDigestTries = 100

var errKeptChanging = []byte("-ERR redverb: the value changed between each read and write of 100 tries of a digest condition\r\n")

// digestSteps runs a condition on a value's digest, which a script cannot
// compute, in steps that keep it atomic: the script reads the key's state
// (condition READ), the proxy decides, and if the condition holds the
// script runs again with the exact state read as its condition (SAME
// value, or ABSENT), which either acts or, if the key changed meanwhile,
// replies with the new state to decide on again. decide returns whether
// the condition holds for a state, and the answer when it does not.
// cond and comparand are ARGV positions of the call's condition.
func digestSteps(call *verb.Call, cond, comparand int, decide func(value []byte, found bool) (holds bool, answer []byte)) {
	tries := 0
	var then func(reply []byte) (*verb.Call, []byte)
	then = func(reply []byte) (*verb.Call, []byte) {
		value, found, ok := keyState(reply)
		if !ok {
			return nil, reply // the act's own reply, or an error
		}
		holds, answer := decide(value, found)
		if !holds {
			return nil, answer
		}
		if tries++; tries > maxDigestTries {
			return nil, errKeptChanging
		}
		next := *call
		next.Args = append([][]byte(nil), call.Args...)
		next.Args[cond], next.Args[comparand] = bs("ABSENT"), nil
		if found {
			next.Args[cond], next.Args[comparand] = bs("SAME"), value
		}
		next.Then = then
		return &next, nil
	}
	call.Args[cond], call.Args[comparand] = bs("READ"), nil
	call.Then = then
}
