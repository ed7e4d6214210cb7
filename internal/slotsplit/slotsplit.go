// Package slotsplit cuts a multi-key command whose keys span cluster
// slots into one command per slot, and merges the per-slot replies into
// the reply one server would give. Each strategy is one small value.
package slotsplit

import (
	"strconv"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/resp"
)

// Strategy is how a command splits.
type Strategy struct {
	// Step is the arguments per key: 1 for keys, 2 for MSET's key value
	// pairs.
	Step int
	// Merge builds the client's reply from the per-slot replies (parts,
	// none an error), given the indexes of each slot's keys in the call
	// and the number of keys; null is the client's null reply.
	Merge func(parts [][]byte, keysOf [][]int, nkeys int, null []byte) []byte
}

// The strategies of Redis's multi-key commands.
var (
	MGet  = &Strategy{Step: 1, Merge: mergeArrays} // MGET
	MSet  = &Strategy{Step: 2, Merge: mergeOK}     // MSET
	Count = &Strategy{Step: 1, Merge: sumIntegers} // DEL, UNLINK, EXISTS, TOUCH
)

// WellFormed reports whether a call names whole keys (MSET: pairs).
func (st *Strategy) WellFormed(args [][]byte) bool {
	return len(args) < 2 || (len(args)-1)%st.Step == 0
}

// SpansSlots reports whether a well-formed call has keys in several slots.
// A malformed one goes to the backend as it is, for Redis's own error.
func (st *Strategy) SpansSlots(args [][]byte) bool {
	if len(args) < 2 || !st.WellFormed(args) {
		return false
	}
	first := keyslot.Slot(args[1])
	for i := 1 + st.Step; i < len(args); i += st.Step {
		if keyslot.Slot(args[i]) != first {
			return true
		}
	}
	return false
}

// Split returns one command per slot the call's keys hash to (each starts
// with args[0]), the slot of each, and per slot the indexes of its keys in
// the call, in the order the keys came.
func (st *Strategy) Split(args [][]byte) (cmds [][][]byte, slots []int, keysOf [][]int) {
	for k, i := 0, 1; i < len(args); k, i = k+1, i+st.Step {
		slot := keyslot.Slot(args[i])
		j := 0
		for j < len(slots) && slots[j] != slot {
			j++
		}
		if j == len(slots) {
			slots = append(slots, slot)
			keysOf = append(keysOf, nil)
			cmds = append(cmds, [][]byte{args[0]})
		}
		keysOf[j] = append(keysOf[j], k)
		cmds[j] = append(cmds[j], args[i:i+st.Step]...)
	}
	return cmds, slots, keysOf
}

// mergeArrays puts MGET's per-slot values back in the order of the keys.
func mergeArrays(parts [][]byte, keysOf [][]int, nkeys int, null []byte) []byte {
	values := make([][]byte, nkeys)
	for i, part := range parts {
		for j, v := range resp.SplitArray(part) {
			if j < len(keysOf[i]) {
				values[keysOf[i][j]] = v
			}
		}
	}
	out := resp.AppendHeader(nil, '*', nkeys)
	for _, v := range values {
		if v == nil {
			v = null
		}
		out = append(out, v...)
	}
	return out
}

// mergeOK answers MSET: every slot said OK.
func mergeOK([][]byte, [][]int, int, []byte) []byte { return []byte("+OK\r\n") }

// sumIntegers answers DEL, UNLINK, EXISTS and TOUCH: the counts add up.
func sumIntegers(parts [][]byte, _ [][]int, _ int, _ []byte) []byte { return Sum(parts) }

// Sum adds integer replies up, as one integer reply.
func Sum(parts [][]byte) []byte {
	total := 0
	for _, p := range parts {
		total += resp.Int(p)
	}
	return append(strconv.AppendInt([]byte{':'}, int64(total), 10), '\r', '\n')
}
