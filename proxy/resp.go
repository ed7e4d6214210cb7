package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxReplyDepth bounds nesting so a hostile or broken backend cannot make
// the reply reader recurse without limit.
const maxReplyDepth = 64

var errBadReply = errors.New("malformed reply from backend")

// readReply appends one complete RESP2 or RESP3 reply, exactly as received,
// to dst. A RESP3 attribute is returned together with the reply it annotates.
func readReply(r *bufio.Reader, dst []byte) ([]byte, error) {
	return readFrame(r, dst, 0)
}

func readFrame(r *bufio.Reader, dst []byte, depth int) ([]byte, error) {
	if depth > maxReplyDepth {
		return dst, errBadReply
	}
	start := len(dst)
	dst, err := readLine(r, dst)
	if err != nil {
		return dst, err
	}
	line := dst[start : len(dst)-2]
	if len(line) == 0 {
		return dst, errBadReply
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return dst, nil
	case '$', '!', '=':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return dst, errBadReply
		}
		if n < 0 {
			return dst, nil
		}
		return readN(r, dst, n+2)
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return dst, errBadReply
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
	return dst, fmt.Errorf("%w: unexpected type byte %q", errBadReply, line[0])
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
		return dst, errBadReply
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

// appendCommand encodes args as a RESP array of bulk strings.
func appendCommand(dst []byte, args ...[]byte) []byte {
	dst = appendHeader(dst, '*', len(args))
	for _, a := range args {
		dst = appendHeader(dst, '$', len(a))
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

func appendHeader(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// isError reports whether a raw reply is an error reply.
func isError(reply []byte) bool {
	return len(reply) > 0 && (reply[0] == '-' || reply[0] == '!')
}

// appendError encodes msg, which starts with an error code such as "ERR".
func appendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}
