package backend

import (
	"strings"

	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/verb"
)

// The backend's own commands and options, for verbs that stand in for
// newer ones (see verb.Emulation): the backend's COMMAND table says which
// commands it has, and COMMAND DOCS, asked once per command, which option
// tokens. Nothing is guessed from a version string.

var _ verb.Native = (*Backend)(nil)

// HasCommand implements verb.Native.
func (b *Backend) HasCommand(name string) bool {
	return b.CommandKeys()[name] != nil
}

// HasOption implements verb.Native.
func (b *Backend) HasOption(name, token string) bool {
	tokens, ok := b.options.Load(name)
	if !ok {
		t, err := b.loadOptions(name)
		if err != nil {
			return false // unreachable: ask again next time
		}
		tokens, _ = b.options.LoadOrStore(name, t)
	}
	return tokens.(map[string]bool)[token]
}

// loadOptions asks a master for a command's documented option tokens. A
// backend without COMMAND DOCS (before Redis 7) has none of the options
// redverb asks about.
func (b *Backend) loadOptions(name string) (map[string]bool, error) {
	n, err := b.Master(-1)
	if err != nil {
		return nil, err
	}
	reply, err := n.OutOfBand(ConnKey{DB: 0, Proto: 2}, []byte("COMMAND"), []byte("DOCS"), []byte(name))
	if err != nil {
		return nil, err
	}
	return docTokens(reply), nil
}

// docTokens collects the values of every "token" field in a COMMAND DOCS
// reply (RESP2: maps are arrays of keys and values), at any depth, in
// upper case.
func docTokens(reply []byte) map[string]bool {
	tokens := map[string]bool{}
	var walk func(elems [][]byte)
	walk = func(elems [][]byte) {
		for i, e := range elems {
			if len(e) > 0 && e[0] == '*' {
				walk(resp.SplitArray(e))
			} else if i%2 == 0 && i+1 < len(elems) && string(e) == "$5\r\ntoken\r\n" {
				tokens[strings.ToUpper(string(resp.Text(elems[i+1])))] = true
			}
		}
	}
	if len(reply) > 0 && reply[0] == '*' {
		walk(resp.SplitArray(reply))
	}
	return tokens
}
