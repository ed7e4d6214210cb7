package commands

import "github.com/redverb/redverb/verb"

// checkHGetOrSet: HGETORSET key field value [field value ...].
func checkHGetOrSet(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) < 3 || len(args)%2 == 0 {
		return arityError("hgetorset")
	}
	call.Keys, call.Args = args[:1], args[1:]
	call.PairsReply = true
	return nil
}
