package commands

import (
	"errors"
	"math"
	"strings"

	"github.com/redverb/redverb/verb"
)

var (
	errNumKeys = errors.New("invalid numkeys value")
	errKVPairs = errors.New("wrong number of key-value pairs")
)

// checkMSetEx: MSETEX numkeys key value [key value ...] [NX | XX]
// [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL].
// Options after the pairs, in any order, as SET's. Script KEYS: the keys;
// ARGV: condition, the values, then the expiry arguments.
func checkMSetEx(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) < 3 {
		return arityError("msetex")
	}
	n, err := parseInt(args[0])
	if err != nil || n < 1 || n > math.MaxInt32 {
		return errNumKeys
	}
	pairs := args[1:]
	if int64(len(pairs)) < 2*n {
		return errKVPairs
	}
	var cond string
	var expiry expiryOption
	opts := pairs[2*n:]
	for i := 0; i < len(opts); i++ {
		opt := strings.ToUpper(string(opts[i]))
		if used := expiry.take(opt, opts, i); used > 0 {
			i += used - 1
			continue
		}
		if (opt != "NX" && opt != "XX") || (cond != "" && cond != opt) {
			return errSyntax
		}
		cond = opt
	}
	if err := expiry.check("msetex"); err != nil {
		return err
	}
	call.Args = append(call.Args, bs(cond))
	for i := int64(0); i < n; i++ {
		call.Keys = append(call.Keys, pairs[2*i])
		call.Args = append(call.Args, pairs[2*i+1])
	}
	call.Args = expiry.appendTo(call.Args)
	return nil
}
