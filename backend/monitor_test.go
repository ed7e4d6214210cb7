package backend

import "testing"

// A MONITOR feed drops redverb's own commands: those it noted since the
// feed started (once each), verbs' libraries, and everything from
// go-redis's topology connections.
func TestMonitorFeedHides(t *testing.T) {
	var f monitorFilter
	feed := f.startFeed()
	defer feed.Stop()
	f.note("127.0.0.1:5000", []byte("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"))
	f.topology.Store("127.0.0.1:6000", struct{}{})
	for _, c := range []struct {
		line string
		hide bool
	}{
		{`+1.2 [0 127.0.0.1:5000] "HELLO" "3"` + "\r\n", true},
		{`+1.3 [0 127.0.0.1:5000] "HELLO" "3"` + "\r\n", false}, // the client's own, once the note is used
		{`+1.4 [0 127.0.0.1:5001] "GET" "k"` + "\r\n", false},
		{`+1.5 [0 127.0.0.1:6000] "cluster" "slots"` + "\r\n", true},
		{`+1.6 [0 127.0.0.1:5001] "FUNCTION" "LOAD" "#!lua name=rv_abc\n..."` + "\r\n", true},
		{`+1.7 [0 lua] "GET" "k"` + "\r\n", false},
	} {
		if got := feed.Hides([]byte(c.line)); got != c.hide {
			t.Errorf("%q: hides %v, want %v", c.line, got, c.hide)
		}
	}
}
