package proxy

import (
	"errors"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/redverb/redverb/internal/resp"
	"github.com/tidwall/redcon"
)

// Limits Redis applies to what a client may send (redis.conf defaults).
const (
	maxBulkLen        = 512 << 20 // proto-max-bulk-len
	maxInlineLen      = 64 << 10  // PROTO_INLINE_MAX_SIZE
	maxUnauthArgs     = 10
	maxUnauthBulkLen  = 16384
	watchBufferLimit  = 64 << 10 // input read ahead while a command blocks
	minReadSpace      = 16 << 10
	protocolErrPrefix = "Protocol error: "
)

// protocolError is what Redis answers, before closing the connection, when a
// client breaks the protocol.
type protocolError string

func (e protocolError) Error() string { return protocolErrPrefix + string(e) }

// errQueryBuffer closes a client whose unprocessed input passed the query
// buffer limit; as Redis does, it gets no reply.
var errQueryBuffer = errors.New("client reached max query buffer length")

func isProtocolError(err error) bool {
	var pe protocolError
	return errors.As(err, &pe)
}

// command is one client command. raw and args point into the input buffer
// and stay valid until the next call to readCommands.
type command struct {
	raw  []byte
	args [][]byte
	spec *cmdSpec // its row of the command table (see table.classify)
	kind kind     // how it runs: its row's, refined by its arguments
	// sampled: counted for hot keys when the cache is looked up for it
	// (see noteCommand).
	sampled bool
}

// input reads a client's commands. It checks Redis's input limits as bytes
// arrive, so a client announcing a 1 GB bulk is refused at its header
// instead of being buffered, then lets redcon split the checked bytes into
// commands without copying them. It can also read ahead in the background,
// which is how a session blocked on the backend notices that its client
// went away.
type input struct {
	conn      net.Conn
	raw       syscall.RawConn // conn's descriptor, for reads that hold no buffer while idle; nil if it has none
	needsAuth func() bool
	// queryLimit bounds the unprocessed input (one command still
	// arriving): client-query-buffer-limit. Zero: none.
	queryLimit int

	mu        sync.Mutex
	buf       []byte // buf[start:ready] holds complete, validated commands
	start     int
	ready     int   // end of the last complete command validated
	checked   int   // end of what has been validated
	err       error // sticky: protocol error or socket error
	readAhead chan struct{}
	shed      shedding

	// what the raw read callback got (fillIdle); kept here, with the
	// callback made once, so that waiting for a client allocates nothing
	rawRead func(fd uintptr) bool
	rawBuf  []byte
	rawN    int
	rawErr  error

	// validation state at buf[checked:]
	state      inputState
	bulksLeft  int
	payloadLen int
	scanned    int // bytes of an unfinished line already searched for '\n'

	cmds []command
	args [][]byte // backing store for every command's args in a batch
}

type inputState uint8

const (
	atCommand inputState = iota
	atCount
	atBulkHeader
	inPayload
	inInline
)

func newInput(conn net.Conn, needsAuth func() bool) *input {
	in := &input{conn: conn, needsAuth: needsAuth}
	if sc, ok := conn.(syscall.Conn); ok {
		in.raw, _ = sc.SyscallConn()
		in.rawRead = in.readRaw
	}
	return in
}

// readRaw is the raw read callback: it reads into a pooled buffer, or
// returns it and asks to wait if there is nothing to read yet.
func (in *input) readRaw(fd uintptr) bool {
	in.rawBuf = takeReadBuffer()
	in.rawN, in.rawErr = syscall.Read(int(fd), in.rawBuf[:cap(in.rawBuf)])
	if in.rawErr == syscall.EAGAIN || in.rawErr == syscall.EINTR {
		giveReadBuffer(in.rawBuf)
		in.rawBuf = nil
		return false // wait until readable, holding nothing
	}
	return true
}

// readBuffers are lent to clients while they have bytes to read: an idle
// client holds none, which is most of what an idle client would cost.
// They are pooled as array pointers, which go in and out of the pool without
// allocating.
var readBuffers = sync.Pool{New: func() any { return new([minReadSpace]byte) }}

func takeReadBuffer() []byte { return readBuffers.Get().(*[minReadSpace]byte)[:0] }

func giveReadBuffer(b []byte) { readBuffers.Put((*[minReadSpace]byte)(b[:minReadSpace])) }

// readCommands returns every complete command received so far, waiting for
// at least one. The previous batch's commands become invalid.
func (in *input) readCommands() ([]command, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.cmds, in.args = in.cmds[:0], in.args[:0]
	if in.readAhead == nil { // a read-ahead writes into the buffer compact moves
		in.compact()
	}
	for {
		if err := in.parse(); err != nil {
			if len(in.cmds) > 0 {
				// Run the good commands first, as Redis does; the bad one
				// is parsed again, and refused, on the next call.
				return in.cmds, nil
			}
			return nil, err
		}
		if len(in.cmds) > 0 {
			return in.cmds, nil
		}
		if in.err != nil {
			return nil, in.err
		}
		if in.readAhead != nil {
			in.waitReadAhead()
			continue
		}
		if err := in.fill(); err != nil {
			return nil, err
		}
	}
}

// waitReadAhead waits, with in.mu held on entry and return, until no
// background read is in flight.
func (in *input) waitReadAhead() {
	for in.readAhead != nil {
		ch := in.readAhead
		in.mu.Unlock()
		<-ch
		in.mu.Lock()
	}
}

// parse splits buf[start:ready] into commands. It only ever sees complete
// commands, so a huge command arriving in many reads is split once.
func (in *input) parse() error {
	for in.start < in.ready {
		packet := in.buf[in.start:in.ready]
		if len(packet) > 1 && packet[0] == '*' && packet[1] == '-' {
			// *-1: an empty command, which Redis skips; validate let it through.
			in.start += indexNewline(packet) + 1
			continue
		}
		complete, args, _, rest, err := redcon.ReadNextCommand(packet, in.args[len(in.args):])
		if err != nil {
			return protocolError(strings.TrimPrefix(err.Error(), protocolErrPrefix))
		}
		if !complete {
			return nil
		}
		raw := packet[:len(packet)-len(rest)]
		in.start += len(raw)
		if len(args) == 0 {
			continue
		}
		if raw[0] != '*' { // inline command: forward it in RESP form
			raw = resp.AppendCommand(nil, args...)
		}
		n := len(in.args)
		in.args = append(in.args, args...)
		in.cmds = append(in.cmds, command{raw: raw, args: in.args[n:len(in.args):len(in.args)]})
	}
	return nil
}

// compact moves unparsed bytes to the front of the buffer. It runs only
// between batches, when no command points into the buffer.
func (in *input) compact() {
	if in.start == len(in.buf) && in.buf != nil {
		// Everything read was consumed: give the buffer back until the
		// client sends more.
		if cap(in.buf) == minReadSpace {
			giveReadBuffer(in.buf)
		}
		in.buf, in.start, in.ready, in.checked = nil, 0, 0, 0
		return
	}
	if in.start == 0 {
		return
	}
	if cap(in.buf) > 1<<20 && len(in.buf)-in.start < minReadSpace {
		// Drop a buffer a huge command left behind.
		in.buf = append(make([]byte, 0, minReadSpace), in.buf[in.start:]...)
	} else {
		in.buf = in.buf[:copy(in.buf, in.buf[in.start:])]
	}
	in.checked -= in.start
	in.ready -= in.start
	in.start = 0
}

// fill reads once from the socket; in.mu is held on entry and on return. A
// timeout (the read deadline Shutdown sets) is returned but not kept, so it
// does not count as the client going away.
func (in *input) fill() error {
	if in.buf == nil && in.raw != nil {
		return in.fillIdle()
	}
	if in.buf == nil {
		in.buf = takeReadBuffer()
	}
	if cap(in.buf)-len(in.buf) < minReadSpace {
		grown := make([]byte, len(in.buf), 2*cap(in.buf)+minReadSpace)
		copy(grown, in.buf)
		in.buf = grown
	}
	buf := in.buf
	in.mu.Unlock()
	n, err := in.conn.Read(buf[len(buf):cap(buf)])
	in.mu.Lock()
	in.buf = in.buf[:len(in.buf)+n]
	counters.BytesIn.Add(int64(n))
	return in.received(err)
}

// fillIdle is fill for a client whose bytes were all consumed: it waits for
// the socket to become readable holding no buffer, and takes one from the
// pool only to read.
func (in *input) fillIdle() error {
	waiting := in.readAhead == nil // for the next command, not reading ahead
	if waiting {
		in.shed.park()
	}
	in.mu.Unlock()
	err := in.raw.Read(in.rawRead)
	buf, n, readErr := in.rawBuf, in.rawN, in.rawErr
	in.rawBuf, in.rawErr = nil, nil
	if waiting {
		err = in.shed.unpark(in.conn, err)
	}
	in.mu.Lock()
	switch {
	case err != nil:
	case readErr != nil:
		err = &net.OpError{Op: "read", Net: "tcp", Addr: in.conn.RemoteAddr(), Err: os.NewSyscallError("read", readErr)}
	case n == 0:
		err = io.EOF
	}
	if buf != nil {
		in.buf = buf[:max(n, 0)]
		counters.BytesIn.Add(int64(max(n, 0)))
	}
	return in.received(err)
}

// received validates what a read added and records how the read ended.
func (in *input) received(err error) error {
	in.validate()
	if in.queryLimit > 0 && len(in.buf)-in.ready > in.queryLimit && in.err == nil {
		// The command still arriving is past the limit. Redis 7.0 counts
		// only the argument being read; counting the whole command keeps
		// a command of many huge arguments from growing the proxy.
		in.err = errQueryBuffer
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || err == errShed {
		return err
	}
	if err != nil && in.err == nil {
		in.err = err
	}
	return nil
}

// watchClosed starts reading ahead in the background and returns a channel
// that is closed when the client closes its connection (or breaks the
// protocol). Bytes read meanwhile are kept for the next readCommands;
// read-ahead stops at watchBufferLimit so a fast client cannot make the
// proxy buffer without limit. The caller calls stop when it no longer cares.
func (in *input) watchClosed() (closed <-chan struct{}, stop func()) {
	gone := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		for {
			in.waitReadAhead()
			if in.err != nil {
				close(gone)
				return
			}
			select {
			case <-quit:
				return
			default:
			}
			if len(in.buf)-in.start >= watchBufferLimit {
				return
			}
			done := make(chan struct{})
			in.readAhead = done
			timeout := in.fill()
			in.readAhead = nil
			close(done)
			if timeout != nil {
				return
			}
		}
	}()
	var once sync.Once
	return gone, func() { once.Do(func() { close(quit) }) }
}

// validate advances checked over the bytes received, enforcing Redis's
// limits; it records a protocolError where the stream breaks them.
func (in *input) validate() {
	for in.err == nil && in.checked < len(in.buf) {
		b := in.buf[in.checked:]
		switch in.state {
		case inPayload:
			n := min(in.payloadLen, len(b))
			in.checked += n
			in.payloadLen -= n
			if in.payloadLen == 0 {
				in.bulksLeft--
				in.state = atBulkHeader
				if in.bulksLeft == 0 {
					in.state = atCommand
				}
			}
		case atCommand:
			in.state = inInline
			if b[0] == '*' {
				in.state = atCount
			}
		default: // a line: inline command, multibulk count or bulk header
			// Resume the search where the last read left it: rescanning
			// would make a client that sends a long line byte by byte
			// cost quadratic time.
			i := indexNewline(b[in.scanned:])
			if i < 0 {
				in.scanned = len(b)
				if len(b) > maxInlineLen {
					in.err = tooLongLine[in.state]
				}
				return
			}
			i += in.scanned
			in.scanned = 0
			if in.state == inInline {
				in.state = atCommand
			} else {
				in.header(b[:i+1])
			}
			if in.err == nil {
				in.checked += i + 1
			}
		}
		if in.state == atCommand {
			in.ready = in.checked
		}
	}
}

var tooLongLine = map[inputState]error{
	inInline:     protocolError("too big inline request"),
	atCount:      protocolError("too big mbulk count string"),
	atBulkHeader: protocolError("too big bulk count string"),
}

// header checks a multibulk count or bulk length line.
func (in *input) header(line []byte) {
	if in.state == atBulkHeader && line[0] != '$' {
		in.err = protocolError("expected '$', got '" + string(line[0]) + "'")
		return
	}
	body := line[1 : len(line)-1]
	if len(body) > 0 && body[len(body)-1] == '\r' {
		body = body[:len(body)-1]
	}
	n, err := strconv.ParseInt(string(body), 10, 64)
	if in.state == atCount {
		switch {
		case err != nil || n > math.MaxInt32:
			in.err = protocolError("invalid multibulk length")
		case n <= 0:
			in.state = atCommand // an empty command: Redis ignores it
		case n > maxUnauthArgs && in.needsAuth():
			in.err = protocolError("unauthenticated multibulk length")
		default:
			in.bulksLeft = int(n)
			in.state = atBulkHeader
		}
		return
	}
	switch {
	case line[0] != '$':
		in.err = protocolError("expected '$', got '" + string(line[0]) + "'")
	case err != nil || n < 0 || n > maxBulkLen:
		in.err = protocolError("invalid bulk length")
	case n > maxUnauthBulkLen && in.needsAuth():
		in.err = protocolError("unauthenticated bulk length")
	case in.queryLimit > 0 && n > int64(in.queryLimit):
		in.err = errQueryBuffer // Redis closes once that much of it arrived
	default:
		in.payloadLen = int(n) + 2
		in.state = inPayload
	}
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// held reports the input read but not yet run, and the room left in the
// buffer that holds it (both 0 for an idle client, which holds no buffer).
func (in *input) held() (held, room int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.buf) - in.start, cap(in.buf) - len(in.buf)
}

// shrink drops the command and argument slices of the last batch, for an
// idle client; the read buffer is already given back.
func (in *input) shrink() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.cmds, in.args = nil, nil
}
