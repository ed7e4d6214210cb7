package resp

import (
	"bufio"
	"bytes"
	"testing"
	"testing/iotest"
)

// FuzzReadReply: whatever the backend sends, the reader never panics or
// recurses, frames the same reply whether the bytes arrive at once or one
// at a time, and returns exactly the bytes it consumed. Seeds are real
// replies recorded from redis-server (testdata/fuzz, see TestRecordFuzzSeeds
// in proxy) plus every RESP3 type.
func FuzzReadReply(f *testing.F) {
	for _, seed := range []string{
		"+OK\r\n", "-ERR bad\r\n", ":42\r\n", "$5\r\nhe\r\nl\r\n", "$-1\r\n", "*-1\r\n", "*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
		"_\r\n", ",3.14\r\n", "#t\r\n", "(1234567890123\r\n", "!3\r\nerr\r\n", "=8\r\ntxt:abcd\r\n",
		"%1\r\n$1\r\nk\r\n$1\r\nv\r\n", "~2\r\n:1\r\n:2\r\n", ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n",
		"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", "*3\r\n*1\r\n*1\r\n-ERR deep\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, errWhole := ReadReply(bufio.NewReaderSize(bytes.NewReader(data), 16), nil)
		slow, errSlow := ReadReply(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(data)), 16), nil)
		if (errWhole == nil) != (errSlow == nil) || !bytes.Equal(whole, slow) {
			t.Fatalf("split reads differ: %q (%v) vs %q (%v)", whole, errWhole, slow, errSlow)
		}
		if errWhole != nil {
			return
		}
		if !bytes.HasPrefix(data, whole) {
			t.Fatalf("reply %q is not what was read from %q", whole, data)
		}
		// A framed reply frames again to itself, and its elements are replies.
		again, err := ReadReply(bufio.NewReader(bytes.NewReader(whole)), nil)
		if err != nil || !bytes.Equal(again, whole) {
			t.Fatalf("reframing %q gave %q (%v)", whole, again, err)
		}
		for _, e := range SplitArray(whole) {
			if _, err := ReadReply(bufio.NewReader(bytes.NewReader(e)), nil); err != nil {
				t.Fatalf("element %q of %q: %v", e, whole, err)
			}
		}
	})
}
