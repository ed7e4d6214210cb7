// Package resp frames RESP2 and RESP3 replies without decoding them, so
// they can be passed on byte for byte.
package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxReplyDepth bounds nesting so a hostile or broken backend cannot make
// the reply reader recurse without limit.
const maxReplyDepth = 64

// ErrBadReply means the bytes are not RESP.
var ErrBadReply = errors.New("malformed reply from backend")

// ReadReply appends one complete RESP2 or RESP3 reply, exactly as received,
// to dst. A RESP3 attribute is returned together with the reply it annotates.
func ReadReply(r *bufio.Reader, dst []byte) ([]byte, error) {
	return readFrame(r, dst, 0)
}

func readFrame(r *bufio.Reader, dst []byte, depth int) ([]byte, error) {
	if depth > maxReplyDepth {
		return dst, ErrBadReply
	}
	start := len(dst)
	dst, err := readLine(r, dst)
	if err != nil {
		return dst, err
	}
	line := dst[start : len(dst)-2]
	if len(line) == 0 {
		return dst, ErrBadReply
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return dst, nil
	case '$', '!', '=':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return dst, ErrBadReply
		}
		if n < 0 {
			return dst, nil
		}
		return readN(r, dst, n+2)
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return dst, ErrBadReply
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			if dst, err = readFrame(r, dst, depth+1); err != nil {
				return dst, err
			}
		}
		if line[0] == '|' {
			// An attribute annotates the reply that follows it.
			return readFrame(r, dst, depth+1)
		}
		return dst, nil
	}
	return dst, fmt.Errorf("%w: unexpected type byte %q", ErrBadReply, line[0])
}

// readLine appends one CRLF-terminated line, CRLF included.
func readLine(r *bufio.Reader, dst []byte) ([]byte, error) {
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
	if len(dst) < 2 || dst[len(dst)-2] != '\r' {
		return dst, ErrBadReply
	}
	return dst, nil
}

func readN(r *bufio.Reader, dst []byte, n int) ([]byte, error) {
	start := len(dst)
	if cap(dst)-start < n {
		grown := make([]byte, start, start+n+start/2)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:start+n]
	if _, err := io.ReadFull(r, dst[start:]); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// AppendCommand encodes args as a RESP array of bulk strings.
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = AppendHeader(dst, '*', len(args))
	for _, a := range args {
		dst = AppendHeader(dst, '$', len(a))
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
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
