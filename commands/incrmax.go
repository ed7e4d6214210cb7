package commands

import "github.com/redverb/redverb/verb"

// checkIncrMax: INCRMAX key increment max. The script answers the new value
// as a string, exact over int64; the proxy replies it as an integer.
func checkIncrMax(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) != 3 {
		return arityError("incrmax")
	}
	for _, a := range args[1:] {
		if _, err := parseInt(a); err != nil {
			return err
		}
	}
	call.Keys, call.Args = args[:1], args[1:]
	call.Convert = bulkToInteger
	return nil
}
