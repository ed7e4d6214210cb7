package proxy

import (
	"strings"
	"testing"
)

// FuzzInputFraming: any bytes a client sends, split at any chunk size,
// give the same commands and the same protocol error as when they arrive
// at once, with no panic or hang (feedSlowly fails after a deadline).
// Seeds are real client traffic: the corpus test's commands as recorded
// pipelines (testdata/fuzz, see TestRecordFuzzSeeds), plus malformed input.
func FuzzInputFraming(f *testing.F) {
	for _, seed := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n", "*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n",
		"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", "SET k \"a b\"\r\nGET k\n", "*1\r\n$4\r\nPING\r\n*x\r\n",
		"*1\r\n+PING\r\n", "SET \"a\r\n", "*1\r\n$536870913\r\nxx", "\r\n\r\nPING\r\n",
	} {
		f.Add([]byte(seed), uint8(1))
		f.Add([]byte(seed), uint8(5))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		authed := chunk%2 == 0
		whole, errWhole := feedSlowly(t, string(data), len(data)+1, authed)
		split, errSplit := feedSlowly(t, string(data), int(chunk%32)+1, authed)
		if strings.Join(whole, "\x00") != strings.Join(split, "\x00") {
			t.Fatalf("commands differ: %q whole, %q in chunks of %d", whole, split, chunk%32+1)
		}
		if isProtocolError(errWhole) != isProtocolError(errSplit) ||
			(isProtocolError(errWhole) && errWhole.Error() != errSplit.Error()) {
			t.Fatalf("errors differ: %v whole, %v in chunks", errWhole, errSplit)
		}
	})
}
