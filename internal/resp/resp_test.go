package resp

import (
	"bufio"
	"strings"
	"testing"
)

// Every reply type of RESP2 and RESP3 is framed exactly, byte for byte, so
// several replies in a row come apart at the right places.
func TestReadReplyFramesEveryType(t *testing.T) {
	replies := []string{
		"+OK\r\n", "-ERR bad\r\n", ":42\r\n", "$5\r\nhe\r\nl\r\n", "$-1\r\n", "*-1\r\n",
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "_\r\n", ",3.14\r\n", "#t\r\n", "(123456789012345678901234567890\r\n",
		"!3\r\nerr\r\n", "=8\r\ntxt:abcd\r\n", "%1\r\n$1\r\nk\r\n$1\r\nv\r\n", "~2\r\n:1\r\n:2\r\n",
		">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n", "|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", "*0\r\n",
	}
	r := bufio.NewReaderSize(strings.NewReader(strings.Join(replies, "")), 16)
	for _, want := range replies {
		got, err := ReadReply(r, nil)
		if err != nil || string(got) != want {
			t.Fatalf("got %q (%v), want %q", got, err, want)
		}
	}
}

func TestReadReplyRejectsGarbage(t *testing.T) {
	for _, bad := range []string{"?x\r\n", "$x\r\n", "*1\r\n", "+OK\n"} {
		if _, err := ReadReply(bufio.NewReader(strings.NewReader(bad)), nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestSplitArray(t *testing.T) {
	got := SplitArray([]byte("*2\r\n$1\r\na\r\n:5\r\n"))
	if len(got) != 2 || string(got[0]) != "$1\r\na\r\n" || string(got[1]) != ":5\r\n" {
		t.Fatalf("%q", got)
	}
	if SplitArray([]byte("+OK\r\n")) != nil {
		t.Fatal("a status is not an array")
	}
}

// BenchmarkReadReply frames a typical mix of replies; it should not
// allocate beyond growing the destination buffer once.
func BenchmarkReadReply(b *testing.B) {
	batch := strings.Repeat("$10\r\nvalue12345\r\n+OK\r\n:42\r\n*2\r\n$1\r\na\r\n$-1\r\n", 100)
	rd := strings.NewReader(batch)
	r := bufio.NewReaderSize(rd, 64<<10)
	var dst []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)) / 400)
	for i := 0; i < b.N; i++ {
		if r.Buffered() == 0 && rd.Len() == 0 {
			rd.Reset(batch)
			r.Reset(rd)
		}
		var err error
		if dst, err = ReadReply(r, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// A reply nested far deeper than any fixed limit (what Redis sends for a
// Lua table that contains itself) is framed whole, byte for byte.
func TestReadReplyAnyDepth(t *testing.T) {
	const depth = 100000
	reply := strings.Repeat("*1\r\n", depth) + "-ERR reached lua stack limit\r\n"
	r := bufio.NewReaderSize(strings.NewReader(reply+"+OK\r\n"), 16)
	got, err := ReadReply(r, nil)
	if err != nil || string(got) != reply {
		t.Fatalf("got %d bytes (%v), want %d", len(got), err, len(reply))
	}
	if next, _ := ReadReply(r, nil); string(next) != "+OK\r\n" {
		t.Fatalf("next reply %q", next)
	}
}

// A bulk that announces more than it sends is an error, not an allocation
// of the announced size.
func TestReadReplyHugeLengthIsNotTrusted(t *testing.T) {
	_, err := ReadReply(bufio.NewReader(strings.NewReader("$9000000000000000\r\nabc")), nil)
	if err == nil {
		t.Fatal("no error for a truncated bulk")
	}
}

func TestBulkValue(t *testing.T) {
	for _, c := range []struct {
		reply, want string
		ok          bool
	}{
		{"$5\r\nhello\r\n", "hello", true},
		{"$0\r\n\r\n", "", true},
		{"$4\r\na\r\nb\r\n", "a\r\nb", true},
		{"$-1\r\n", "", false},
		{"+OK\r\n", "", false},
		{":1\r\n", "", false},
		{"_\r\n", "", false},
		{"", "", false},
	} {
		got, ok := BulkValue([]byte(c.reply))
		if string(got) != c.want || ok != c.ok {
			t.Errorf("BulkValue(%q) = %q, %v; want %q, %v", c.reply, got, ok, c.want, c.ok)
		}
		if ok && string(AppendBulk(nil, got)) != c.reply {
			t.Errorf("AppendBulk(%q) does not give back %q", got, c.reply)
		}
	}
}

func TestText(t *testing.T) {
	for reply, want := range map[string]string{
		"+OK\r\n": "OK", "$5\r\nhello\r\n": "hello", "$0\r\n\r\n": "", ":1\r\n": "", "$-1\r\n": "", "-ERR x\r\n": "", "": "",
	} {
		if got := Text([]byte(reply)); string(got) != want {
			t.Errorf("Text(%q) = %q, want %q", reply, got, want)
		}
	}
}

func TestInt(t *testing.T) {
	for reply, want := range map[string]int{":42\r\n": 42, ":-1\r\n": -1, "+42\r\n": 0, "": 0} {
		if got := Int([]byte(reply)); got != want {
			t.Errorf("Int(%q) = %d, want %d", reply, got, want)
		}
	}
}
