package commands

import (
	"strings"

	"github.com/redverb/redverb/verb"
)

// checkDelex: DELEX key [IFEQ v | IFNE v | IFDEQ digest | IFDNE digest].
// Without a condition it is DEL of one key, of any type; with one, the key
// must hold a string. Script ARGV: condition, comparand.
func checkDelex(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) < 1 {
		return arityError("delex")
	}
	call.Keys = args[:1]
	if len(args) == 1 {
		call.Args = [][]byte{nil, nil}
		return nil
	}
	cond := strings.ToUpper(string(args[1]))
	if len(args) != 3 || !isCondition(cond) {
		return errSyntax
	}
	want := args[2]
	call.Args = [][]byte{bs(cond), want}
	if cond == "IFDEQ" || cond == "IFDNE" {
		if err := checkDigestArg(want); err != nil {
			return err
		}
		digestSteps(call, 0, 1, func(value []byte, found bool) (bool, []byte) {
			if found && strings.EqualFold(digest(value), string(want)) == (cond == "IFDEQ") {
				return true, nil
			}
			return false, []byte(":0\r\n")
		})
	}
	return nil
}
