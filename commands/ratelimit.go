package commands

import (
	"errors"
	"strconv"
	"strings"

	"github.com/redverb/redverb/verb"
)

var (
	errLimit        = errors.New("limit must be a positive integer")
	errPeriod       = errors.New("period must be a positive integer")
	errCost         = errors.New("cost must be a positive integer")
	errCostTooLarge = errors.New("cost exceeds limit")
)

// checkRateLimit: RATELIMIT key limit period-ms [COST n] [ALGO GCRA|SLIDING|FIXED].
// Script ARGV: limit, period-ms, cost, algorithm.
func checkRateLimit(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) < 3 {
		return arityError("ratelimit")
	}
	limit, err := parsePositive(args[1], errLimit)
	if err != nil {
		return err
	}
	if _, err := parsePositive(args[2], errPeriod); err != nil {
		return err
	}
	cost, algo := int64(1), ""
	for i := 3; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return errSyntax
		}
		switch {
		case is(args[i], "COST") && cost == 1:
			if cost, err = parsePositive(args[i+1], errCost); err != nil {
				return err
			}
		case is(args[i], "ALGO") && algo == "":
			algo = strings.ToUpper(string(args[i+1]))
			if algo != "GCRA" && algo != "SLIDING" && algo != "FIXED" {
				return errSyntax
			}
		default:
			return errSyntax
		}
	}
	if cost > limit {
		return errCostTooLarge
	}
	if algo == "" {
		algo = "GCRA"
	}
	call.Keys = args[:1]
	call.Args = [][]byte{args[1], args[2], bs(strconv.FormatInt(cost, 10)), bs(algo)}
	return nil
}
