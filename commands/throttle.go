package commands

import (
	"errors"

	"github.com/redverb/redverb/verb"
)

var errThrottleRange = errors.New("max_burst and quantity must be >= 0, count and period must be > 0")

// checkThrottle: CL.THROTTLE key max_burst count period [quantity], as redis-cell.
// Script ARGV: max_burst, count, period, quantity.
func checkThrottle(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) != 4 && len(args) != 5 {
		return arityError("cl.throttle")
	}
	quantity := bs("1")
	if len(args) == 5 {
		quantity = args[4]
	}
	values := [][]byte{args[1], args[2], args[3], quantity}
	for i, v := range values {
		n, err := parseInt(v)
		if err != nil {
			return err
		}
		if n < 0 || (n == 0 && (i == 1 || i == 2)) {
			return errThrottleRange
		}
	}
	call.Keys, call.Args = args[:1], values
	return nil
}
