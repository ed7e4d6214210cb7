package commands

import (
	"math"
	"strings"
	"time"

	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/verb"
)

// checkSet: Redis 8.4's SET, parsed as Redis parses it, for calls that use
// IFEQ, IFNE, IFDEQ or IFDNE on a backend without them:
//
//	SET key value [NX | XX | IFEQ v | IFNE v | IFDEQ digest | IFDNE digest] [GET]
//	    [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]
//
// Options come in any order; repeating one is allowed (the last wins), two
// that exclude each other are a syntax error. Script ARGV: value,
// condition, comparand, get, then the expiry arguments.
func checkSet(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) < 2 {
		return arityError("set")
	}
	var cond, get string
	var comparand []byte
	var expiry expiryOption
	for i := 2; i < len(args); i++ {
		opt := strings.ToUpper(string(args[i]))
		if n := expiry.take(opt, args, i); n > 0 {
			i += n - 1
			continue
		}
		switch {
		case (opt == "NX" || opt == "XX") && (cond == "" || cond == opt):
			cond = opt
		case isCondition(opt) && i+1 < len(args) && (cond == "" || cond == opt):
			cond, comparand = opt, args[i+1]
			i++
			if opt == "IFDEQ" || opt == "IFDNE" {
				if err := checkDigestArg(comparand); err != nil {
					return err
				}
			}
		case opt == "GET":
			get = "1"
		default:
			return errSyntax
		}
	}
	if err := expiry.check("set"); err != nil {
		return err
	}
	call.Keys = args[:1]
	call.Args = expiry.appendTo([][]byte{args[1], bs(cond), comparand, bs(get)})
	if cond == "IFDEQ" || cond == "IFDNE" {
		want := string(comparand)
		digestSteps(call, 1, 2, func(value []byte, found bool) (bool, []byte) {
			matches := found && strings.EqualFold(digest(value), want)
			if matches == (cond == "IFDEQ") {
				return true, nil
			}
			if get != "" && found {
				return false, resp.AppendBulk(nil, value)
			}
			return false, []byte("$-1\r\n")
		})
	}
	return nil
}

func isCondition(opt string) bool {
	return opt == "IFEQ" || opt == "IFNE" || opt == "IFDEQ" || opt == "IFDNE"
}

// expiryOption reads SET's expiry options as Redis's parser does: one of
// EX, PX, EXAT or PXAT with its amount, or KEEPTTL; repeating the same one
// is allowed (the last counts), mixing two is not.
type expiryOption struct {
	unit   string // "" for none
	amount []byte
}

// take consumes opts[i] (upper-cased in opt) and its amount if they are
// an expiry option that fits with those before, and says how many
// arguments it used: 0 if none.
func (e *expiryOption) take(opt string, opts [][]byte, i int) int {
	if e.unit != "" && e.unit != opt {
		return 0
	}
	switch opt {
	case "KEEPTTL":
		e.unit = opt
		return 1
	case "EX", "PX", "EXAT", "PXAT":
		if i+1 < len(opts) {
			e.unit, e.amount = opt, opts[i+1]
			return 2
		}
	}
	return 0
}

// check validates the amount as Redis's SET does: an integer, above zero,
// whose time in milliseconds (from now, for EX and PX) stays above zero in
// int64.
func (e *expiryOption) check(verb string) error {
	if e.amount == nil {
		return nil
	}
	n, err := parseInt(e.amount)
	if err != nil {
		return err
	}
	seconds := e.unit == "EX" || e.unit == "EXAT"
	if n <= 0 || (seconds && n > math.MaxInt64/1000) {
		return expireError(verb)
	}
	if seconds {
		n *= 1000
	}
	if e.unit == "EX" || e.unit == "PX" {
		n += time.Now().UnixMilli() // wraps past int64, as in Redis
	}
	if n <= 0 {
		return expireError(verb)
	}
	return nil
}

// appendTo appends the option to a script's arguments, as SET takes it.
func (e *expiryOption) appendTo(args [][]byte) [][]byte {
	switch {
	case e.amount != nil:
		return append(args, bs(e.unit), e.amount)
	case e.unit != "":
		return append(args, bs(e.unit))
	}
	return args
}
