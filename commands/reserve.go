package commands

import (
	"errors"
	"strconv"

	"github.com/redverb/redverb/verb"
)

var errCount = errors.New("count must be a positive integer")

// checkReserve: RESERVE stock-key queue-key item [COUNT n].
// Script ARGV: item, n.
func checkReserve(args [][]byte, call *verb.Call, _ bool) error {
	n := int64(1)
	switch {
	case len(args) == 3:
	case len(args) == 5 && is(args[3], "COUNT"):
		var err error
		if n, err = parsePositive(args[4], errCount); err != nil {
			return err
		}
	case len(args) < 3:
		return arityError("reserve")
	default:
		return errSyntax
	}
	call.Keys = args[:2]
	call.Args = [][]byte{args[2], bs(strconv.FormatInt(n, 10))}
	return nil
}
