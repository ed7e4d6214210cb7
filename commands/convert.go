package commands

import (
	"bytes"

	"github.com/redverb/redverb/internal/resp"
)

// Lua numbers are doubles, so scripts hand back exact int64 values as bulk
// strings; these turn them into the integer replies the verbs promise.

// bulkToInteger turns "$3\r\n123\r\n" into ":123\r\n"; other replies pass.
func bulkToInteger(reply []byte) []byte {
	if len(reply) < 4 || reply[0] != '$' || reply[1] == '-' {
		return reply
	}
	i := bytes.IndexByte(reply, '\n')
	return append([]byte{':'}, reply[i+1:]...)
}

// bulksToIntegers converts every element of an array reply.
func bulksToIntegers(reply []byte) []byte {
	elems := resp.SplitArray(reply)
	if elems == nil {
		return reply
	}
	out := resp.AppendHeader(nil, '*', len(elems))
	for _, e := range elems {
		out = append(out, bulkToInteger(e)...)
	}
	return out
}
