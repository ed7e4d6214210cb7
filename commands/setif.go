package commands

import "github.com/redverb/redverb/verb"

// checkSetIf: SETIFGT|SETIFLT key value [EX seconds | PX milliseconds].
// Script ARGV: value, mode, amount.
func checkSetIf(name string) Checker {
	return func(args [][]byte, call *verb.Call, _ bool) error {
		if len(args) < 2 {
			return arityError(name)
		}
		if err := parseFloat(args[1]); err != nil {
			return err
		}
		mode, amount, err := parseSetExpiry(name, args[2:], false)
		if err != nil {
			return err
		}
		call.Keys, call.Args = args[:1], [][]byte{args[1], bs(mode), bs(amount)}
		return nil
	}
}
