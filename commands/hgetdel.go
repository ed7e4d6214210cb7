package commands

import (
	"errors"

	"github.com/redverb/redverb/verb"
)

var (
	errFieldsMissing = errors.New("Mandatory argument FIELDS is missing or not at the right position")
	errNumFields     = errors.New("Number of fields must be a positive integer")
	errFieldsCount   = errors.New("The `numfields` parameter must match the number of arguments")
)

// checkHGetDel: HGETDEL key FIELDS numfields field [field ...], with Redis
// 8.0's errors. Script ARGV: the fields.
func checkHGetDel(args [][]byte, call *verb.Call, _ bool) error {
	if len(args) < 4 {
		return arityError("hgetdel")
	}
	if !is(args[1], "FIELDS") {
		return errFieldsMissing
	}
	n, err := parseInt(args[2])
	if err != nil || n < 1 {
		return errNumFields
	}
	if n != int64(len(args)-3) {
		return errFieldsCount
	}
	call.Keys, call.Args = args[:1], args[3:]
	return nil
}
