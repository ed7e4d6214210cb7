package commands

import "github.com/redverb/redverb/verb"

// checkHIncrMulti: HINCRMULTI key field increment [field increment ...].
// The script answers the new values as strings, exact over int64; the
// proxy replies them as integers.
func checkHIncrMulti(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) < 3 || len(args)%2 == 0 {
		return arityError("hincrmulti")
	}
	for i := 2; i < len(args); i += 2 {
		if _, err := parseInt(args[i]); err != nil {
			return err
		}
	}
	call.Keys, call.Args = args[:1], args[1:]
	call.Convert = bulksToIntegers
	return nil
}
