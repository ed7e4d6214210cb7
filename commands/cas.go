package commands

import "github.com/redverb/redverb/verb"

// checkCAS: CAS key expected new [EX seconds | PX milliseconds | KEEPTTL].
// Script ARGV: expected, new, mode, amount.
func checkCAS(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) < 3 {
		return arityError("cas")
	}
	mode, amount, err := parseSetExpiry("cas", args[3:], true)
	if err != nil {
		return err
	}
	call.Keys = args[:1]
	call.Args = [][]byte{args[1], args[2], bs(mode), bs(amount)}
	return nil
}

// parseSetExpiry reads SET's expiry options: at most one of EX n, PX n and
// (if allowed) KEEPTTL. It returns the mode ("" for none) and amount.
func parseSetExpiry(verb string, opts [][]byte, keepTTL bool) (mode, amount string, err error) {
	amount = "0"
	switch {
	case len(opts) == 0:
		return "", amount, nil
	case len(opts) == 1 && keepTTL && is(opts[0], "KEEPTTL"):
		return "KEEPTTL", amount, nil
	case len(opts) == 2 && (is(opts[0], "EX") || is(opts[0], "PX")):
		amount, err = parseExpire(verb, opts[0], opts[1])
		if err != nil {
			return "", "", err
		}
		if is(opts[0], "EX") {
			return "EX", amount, nil
		}
		return "PX", amount, nil
	}
	return "", "", errSyntax
}
