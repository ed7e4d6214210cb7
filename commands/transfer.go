package commands

import (
	"errors"

	"github.com/redverb/redverb/verb"
)

var errAmount = errors.New("amount must be a positive integer")

// checkTransfer: TRANSFER source destination amount [ONCE receipt-key seconds].
// Keys: source, destination[, receipt]. Script ARGV: amount[, seconds].
func checkTransfer(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) < 3 {
		return arityError("transfer")
	}
	if _, err := parsePositive(args[2], errAmount); err != nil {
		return errAmount
	}
	switch {
	case len(args) == 3:
		call.Keys, call.Args = args[:2], args[2:3]
	case len(args) == 6 && is(args[3], "ONCE"):
		seconds, err := parseExpire("transfer", bs("EX"), args[5])
		if err != nil {
			return err
		}
		call.Keys = [][]byte{args[0], args[1], args[4]}
		call.Args = [][]byte{args[2], bs(seconds)}
	default:
		return errSyntax
	}
	return nil
}
