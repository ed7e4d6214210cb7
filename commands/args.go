package commands

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Errors use Redis's texts; the proxy prefixes "ERR " at the protocol
// boundary.
var (
	errSyntax     = errors.New("syntax error")
	errNotInteger = errors.New("value is not an integer or out of range")
	errNotFloat   = errors.New("value is not a valid float")
)

func arityError(verb string) error {
	return errors.New("wrong number of arguments for '" + verb + "' command")
}

func expireError(verb string) error {
	return errors.New("invalid expire time in '" + verb + "' command")
}

// parseInt parses an integer as Redis does (string2ll): optional '-', no
// '+', no leading zeros or spaces, within int64.
func parseInt(b []byte) (int64, error) {
	s := string(b)
	if s == "" || s == "-" || (s[0] == '0' && len(s) > 1) || strings.HasPrefix(s, "-0") || s[0] == '+' {
		return 0, errNotInteger
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errNotInteger
	}
	return n, nil
}

// parsePositive parses an integer > 0; zero or negative gives tooSmall.
func parsePositive(b []byte, tooSmall error) (int64, error) {
	n, err := parseInt(b)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, tooSmall
	}
	return n, nil
}

// parseExpire reads the amount after EX or PX as SET does.
func parseExpire(verb string, unit, amount []byte) (string, error) {
	n, err := parseInt(amount)
	if err != nil {
		return "", err
	}
	if n <= 0 || (strings.EqualFold(string(unit), "EX") && n > math.MaxInt64/1000) {
		return "", expireError(verb)
	}
	return strconv.FormatInt(n, 10), nil
}

// parseFloat accepts the numbers SETIFGT/SETIFLT compare: finite decimals.
func parseFloat(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(string(b), "xXpP_ \t") {
		return errNotFloat
	}
	return nil
}

// is reports whether arg is the option word (case-insensitive).
func is(arg []byte, word string) bool { return strings.EqualFold(string(arg), word) }

func bs(s string) []byte { return []byte(s) }
