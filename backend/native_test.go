package backend

import "testing"

func TestDocTokens(t *testing.T) {
	reply := "*2\r\n$3\r\nset\r\n*4\r\n$9\r\narguments\r\n*1\r\n*4\r\n$5\r\ntoken\r\n$4\r\nIfEq\r\n" +
		"$4\r\nname\r\n$5\r\ntoken\r\n$5\r\ntoken\r\n$2\r\nNX\r\n"
	got := docTokens([]byte(reply))
	if len(got) != 2 || !got["IFEQ"] || !got["NX"] {
		t.Fatalf("docTokens = %v", got)
	}
	if got := docTokens([]byte("-ERR unknown subcommand 'DOCS'\r\n")); len(got) != 0 {
		t.Fatalf("docTokens of an error = %v", got)
	}
}
