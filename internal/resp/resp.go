// Package resp frames RESP2 and RESP3 replies without decoding them, so
// they can be passed on byte for byte.
package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// ErrBadReply means the bytes are not RESP.
var ErrBadReply = errors.New("malformed reply from backend")

// ReadReply appends one complete RESP2 or RESP3 reply, exactly as received,
// to dst. A RESP3 attribute is returned together with the reply it annotates.
//
// It reads iteratively, counting the frames still owed, so any nesting depth
// Redis can produce (a Lua table that contains itself nests thousands deep)
// passes through; there is no recursion for a reply to exhaust.
func ReadReply(r *bufio.Reader, dst []byte) ([]byte, error) {
	for owed := 1; owed > 0; owed-- {
		start := len(dst)
		var err error
		if dst, err = readLine(r, dst); err != nil {
			return dst, err
		}
		line := dst[start : len(dst)-2]
		if len(line) == 0 {
			return dst, ErrBadReply
		}
		switch line[0] {
		case '+', '-', ':', '_', ',', '#', '(':
		case '$', '!', '=':
			n, err := strconv.Atoi(string(line[1:]))
			if err != nil {
				return dst, ErrBadReply
			}
			if n >= 0 {
				if dst, err = readN(r, dst, n+2); err != nil {
					return dst, err
				}
				if dst[len(dst)-2] != '\r' || dst[len(dst)-1] != '\n' {
					return dst, ErrBadReply
				}
			}
		case '*', '~', '>', '%', '|':
			n, err := strconv.Atoi(string(line[1:]))
			if err != nil || n > math.MaxInt32 {
				return dst, ErrBadReply
			}
			if n < 0 {
				continue // *-1: a null array
			}
			switch line[0] {
			case '%':
				n *= 2
			case '|':
				// An attribute's pairs, then the reply it annotates, which
				// takes the attribute's place.
				n = 2*n + 1
			}
			owed += n
		default:
			return dst, fmt.Errorf("%w: unexpected type byte %q", ErrBadReply, line[0])
		}
	}
	return dst, nil
}

// readLine appends one CRLF-terminated line, CRLF included.
func readLine(r *bufio.Reader, dst []byte) ([]byte, error) {
	start := len(dst)
	for {
		chunk, err := r.ReadSlice('\n')
		dst = append(dst, chunk...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return dst, err
		}
	}
	if len(dst)-start < 2 || dst[len(dst)-2] != '\r' {
		return dst, ErrBadReply
	}
	return dst, nil
}

// readN appends n bytes. It grows dst as the bytes arrive rather than
// trusting the announced length, so a bogus huge length costs nothing until
// the data is really there.
func readN(r *bufio.Reader, dst []byte, n int) ([]byte, error) {
	start := len(dst)
	for n > 0 {
		chunk := min(n, 1<<20)
		if cap(dst)-len(dst) < chunk {
			dst = slices.Grow(dst, max(chunk, min(n, len(dst))))
		}
		m, err := io.ReadFull(r, dst[len(dst):len(dst)+chunk])
		dst = dst[:len(dst)+m]
		if err != nil {
			return dst[:start], err
		}
		n -= m
	}
	return dst, nil
}

// AppendCommand encodes args as a RESP array of bulk strings.
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = AppendHeader(dst, '*', len(args))
	for _, a := range args {
		dst = AppendBulk(dst, a)
	}
	return dst
}

// AppendBulk encodes b as a bulk string.
func AppendBulk[T string | []byte](dst []byte, b T) []byte {
	dst = AppendHeader(dst, '$', len(b))
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// BulkValue returns the payload of a raw bulk string reply (as framed by
// ReadReply); ok is false for any other reply, a null included.
func BulkValue(reply []byte) (payload []byte, ok bool) {
	i := bytes.IndexByte(reply, '\n')
	if len(reply) < 2 || reply[0] != '$' || reply[1] == '-' || i < 0 || len(reply) < i+3 {
		return nil, false
	}
	return reply[i+1 : len(reply)-2], true
}

// Text returns the text of a simple or bulk string reply, nil for any
// other reply: names and fields read from COMMAND, INFO or push replies,
// which RESP2 and RESP3 servers send as either.
func Text(reply []byte) []byte {
	if len(reply) >= 3 && reply[0] == '+' {
		return reply[1 : len(reply)-2]
	}
	payload, _ := BulkValue(reply)
	return payload
}

// Int reads an integer reply; 0 if it is not one.
func Int(reply []byte) int {
	if len(reply) < 4 || reply[0] != ':' {
		return 0
	}
	n, _ := strconv.Atoi(string(reply[1 : len(reply)-2]))
	return n
}

func AppendHeader(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// IsError reports whether a raw reply is an error reply.
func IsError(reply []byte) bool {
	return len(reply) > 0 && (reply[0] == '-' || reply[0] == '!')
}

// AppendError encodes msg, which starts with an error code such as "ERR".
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}

// SplitArray returns the raw elements of an array (or set, or push) reply,
// or nil if reply is not one.
func SplitArray(reply []byte) [][]byte {
	if len(reply) == 0 || (reply[0] != '*' && reply[0] != '~' && reply[0] != '>') {
		return nil
	}
	r := bufio.NewReader(bytes.NewReader(reply))
	head, err := readLine(r, nil)
	if err != nil {
		return nil
	}
	n, err := strconv.Atoi(string(head[1 : len(head)-2]))
	if err != nil || n < 0 {
		return nil
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		elem, err := ReadReply(r, nil)
		if err != nil {
			return nil
		}
		out = append(out, elem)
	}
	return out
}
