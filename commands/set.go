package commands

import (
	"math"
	"strings"
	"time"

	"github.com/redverb/redverb/proxy"
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
func checkSet(args [][]byte, call *proxy.ScriptCall, _ bool) error {
	if len(args) < 2 {
		return arityError("set")
	}
	var cond, expiry string
	var comparand, amount []byte
	get := ""
	for i := 2; i < len(args); i++ {
		opt := strings.ToUpper(string(args[i]))
		hasNext := i+1 < len(args)
		switch {
		case (opt == "NX" || opt == "XX") && (cond == "" || cond == opt):
			cond = opt
		case isCondition(opt) && hasNext && (cond == "" || cond == opt):
			cond, comparand = opt, args[i+1]
			i++
			if opt == "IFDEQ" || opt == "IFDNE" {
				if _, err := parseDigest(comparand); err != nil {
					return err
				}
			}
		case opt == "GET":
			get = "1"
		case opt == "KEEPTTL" && (expiry == "" || expiry == opt):
			expiry = opt
		case (opt == "EX" || opt == "PX" || opt == "EXAT" || opt == "PXAT") && hasNext && (expiry == "" || expiry == opt):
			expiry, amount = opt, args[i+1]
			i++
		default:
			return errSyntax
		}
	}
	if amount != nil {
		if err := checkExpireAt("set", expiry, amount); err != nil {
			return err
		}
	}
	call.Keys = args[:1]
	call.Args = [][]byte{args[1], bs(cond), comparand, bs(get)}
	switch {
	case amount != nil:
		call.Args = append(call.Args, bs(expiry), amount)
	case expiry != "":
		call.Args = append(call.Args, bs(expiry))
	}
	if cond == "IFDEQ" || cond == "IFDNE" {
		want := string(comparand)
		digestSteps(call, 1, 2, func(value []byte, found bool) (bool, []byte) {
			matches := found && strings.EqualFold(digest(value), want)
			if matches == (cond == "IFDEQ") {
				return true, nil
			}
			if get != "" && found {
				return false, appendBulk(nil, string(value))
			}
			return false, []byte("$-1\r\n")
		})
	}
	return nil
}

func isCondition(opt string) bool {
	return opt == "IFEQ" || opt == "IFNE" || opt == "IFDEQ" || opt == "IFDNE"
}

// checkExpireAt validates an expiry as Redis's SET does: an integer, above
// zero, whose time in milliseconds (from now, for EX and PX) stays above
// zero in int64.
func checkExpireAt(verb, unit string, amount []byte) error {
	n, err := parseInt(amount)
	if err != nil {
		return err
	}
	seconds := unit == "EX" || unit == "EXAT"
	if n <= 0 || (seconds && n > math.MaxInt64/1000) {
		return expireError(verb)
	}
	if seconds {
		n *= 1000
	}
	if unit == "EX" || unit == "PX" {
		n += time.Now().UnixMilli() // wraps past int64, as in Redis
	}
	if n <= 0 {
		return expireError(verb)
	}
	return nil
}
