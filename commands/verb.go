// Package commands defines redverb's verbs: scripts with a declared key
// count, their argument checks, and the registry the proxy resolves them in.
// It works on [][]byte arguments and knows nothing of the wire protocol.
package commands

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/redverb/redverb/verb"
)

// Verb is one command run as a script on the backend.
type Verb struct {
	Name     string // lower case
	Keys     int    // arguments after the name that are keys
	MinArgs  int    // arguments after the keys
	MaxArgs  int    // -1: no limit
	ReadOnly bool
	Summary  string
	Args     []verb.ArgDoc // named arguments, from "-- syntax:"; nil if none
	Source   string        // file the verb came from
	Script   string        // exactly what is sent to the backend
	SHA      string
	// Function and Library are the script as a Redis function: its name,
	// and the library code that defines it (see Library).
	Function string
	Library  string
	// Compact is the script as sent with EVAL in the middle of a pipeline
	// (see verb.Call.Compact): for a built-in, without comments and
	// without the prelude's helpers it does not use; for a user verb, the
	// script itself.
	Compact string
	// Check, if set, replaces the plain arity check: it validates args
	// (those after the verb name) and fills in call.Keys and call.Args.
	Check Checker
	// Emulates, from "-- emulates:", makes the verb a stand-in for the
	// Redis command of its name on backends without it (or, if options are
	// named, without one of those options).
	Emulates *verb.Emulation
}

// Checker validates a verb's arguments and prepares its script call.
// mayWait is false where the call cannot wait (inside MULTI).
type Checker func(args [][]byte, call *verb.Call, mayWait bool) error

// ParseVerb reads a verb from a script whose header declares it:
//
//	-- verb: NAME
//	-- keys: N
//	-- args: MIN[-MAX]   (MAX may be *)
//	-- flags: readonly
//	-- summary: one line
//	-- syntax: key value [NX | XX]   (argument names, for COMMAND DOCS)
//	-- emulates: NAME [OPTION...]    (a stand-in for a newer Redis command)
//
// The header is the run of "--" lines at the top; other comment lines in it
// are ignored. Errors name the file and line.
func ParseVerb(script, file string) (*Verb, error) {
	v := &Verb{MaxArgs: -1, Source: file, Script: script}
	fail := func(line int, format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, a...))
	}
	seen := map[string]bool{}
	var syntax string
	var emulates []string
	var syntaxLine, emulatesLine int
	lines := strings.Split(script, "\n")
	for i, line := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "--") {
			break
		}
		field, value, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(trimmed, "--")), ":")
		field, value = strings.TrimSpace(field), strings.TrimSpace(value)
		if !ok || !headerFields[field] {
			continue
		}
		if seen[field] {
			return nil, fail(n, "%s declared twice", field)
		}
		seen[field] = true
		switch field {
		case "verb":
			if value == "" || strings.ContainsAny(value, " \t\"'") {
				return nil, fail(n, "verb name %q must be one word", value)
			}
			v.Name = strings.ToLower(value)
		case "keys":
			k, err := strconv.Atoi(value)
			if err != nil || k < 0 {
				return nil, fail(n, "keys must be a non-negative integer, got %q", value)
			}
			v.Keys = k
		case "args":
			lo, hi, err := parseRange(value)
			if err != nil {
				return nil, fail(n, "args must be MIN or MIN-MAX (MAX may be *), got %q", value)
			}
			v.MinArgs, v.MaxArgs = lo, hi
		case "flags":
			for _, f := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' }) {
				if strings.ToLower(f) != "readonly" {
					return nil, fail(n, "unknown flag %q (known: readonly)", f)
				}
				v.ReadOnly = true
			}
		case "summary":
			v.Summary = value
		case "syntax":
			syntax, syntaxLine = value, n
		case "emulates":
			emulates, emulatesLine = strings.Fields(strings.ToUpper(value)), n
		}
	}
	if v.Name == "" {
		return nil, fail(1, "missing '-- verb: NAME' header")
	}
	if emulatesLine > 0 {
		if len(emulates) == 0 || !strings.EqualFold(emulates[0], v.Name) {
			return nil, fail(emulatesLine, "emulates must name the verb's own command first")
		}
		v.Emulates = &verb.Emulation{Options: emulates[1:]}
	}
	if !seen["args"] {
		v.MinArgs, v.MaxArgs = 0, -1
	}
	if syntax != "" {
		args, err := ParseSyntax(syntax, v.Keys)
		if err != nil {
			return nil, fail(syntaxLine, "%v", err)
		}
		if req := requiredArgs(args); req != v.Keys+v.MinArgs {
			return nil, fail(syntaxLine, "syntax names %d required arguments, but keys and args say %d", req, v.Keys+v.MinArgs)
		}
		v.Args = args
	}
	v.setScript(script)
	return v, nil
}

// setScript sets what is sent to the backend, and its SHA1.
func (v *Verb) setScript(script string) {
	sum := sha1.Sum([]byte(script))
	v.Script, v.SHA, v.Compact = script, hex.EncodeToString(sum[:]), script
	v.Function = "rv_" + v.SHA
	flags := ""
	if v.ReadOnly {
		flags = ", flags={'no-writes'}"
	}
	// The script's body becomes the function's: KEYS and ARGV are its
	// parameters under the names scripts use, and its locals stay local.
	v.Library = "#!lua name=" + v.Function + "\n" +
		"redis.register_function{function_name='" + v.Function + "', callback=function(KEYS, ARGV)\n" +
		script + "\nend" + flags + "}\n"
}

var headerFields = map[string]bool{"verb": true, "keys": true, "args": true, "flags": true, "summary": true, "syntax": true, "emulates": true}

// requiredArgs counts the words a call must have: the top level's
// non-optional arguments (two for a token and its value), a repeated
// group once.
func requiredArgs(args []verb.ArgDoc) int {
	n := 0
	for _, a := range args {
		switch {
		case a.Optional:
		case a.Type == "block":
			n += requiredArgs(a.Args)
		case a.Token != "" && a.Type != "pure-token":
			n += 2
		default:
			n++
		}
	}
	return n
}

func parseRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = strconv.Atoi(strings.TrimSpace(a)); err != nil || lo < 0 {
		return 0, 0, fmt.Errorf("bad minimum")
	}
	if !isRange {
		return lo, lo, nil
	}
	if b = strings.TrimSpace(b); b == "*" {
		return lo, -1, nil
	}
	if hi, err = strconv.Atoi(b); err != nil || hi < lo {
		return 0, 0, fmt.Errorf("bad maximum")
	}
	return lo, hi, nil
}

// Info describes the verb for introspection.
func (v *Verb) Info() verb.Info {
	return verb.Info{Name: v.Name, Keys: v.Keys, MinArgs: v.MinArgs, MaxArgs: v.MaxArgs,
		ReadOnly: v.ReadOnly, Summary: v.Summary, SHA: v.SHA, Source: v.Source, Args: v.Args, Emulates: v.Emulates}
}

// Resolve implements verb.Verb: the verb's checker, or its declared arity.
func (v *Verb) Resolve(args [][]byte, mayWait bool) (*verb.Call, error) {
	args = args[1:]
	call := &verb.Call{SHA: v.SHA, Script: v.Script, Function: v.Function, Library: v.Library, Compact: v.Compact}
	if v.Check != nil {
		if err := v.Check(args, call, mayWait); err != nil {
			return nil, err
		}
		return call, nil
	}
	n := len(args) - v.Keys
	if n < v.MinArgs || (v.MaxArgs >= 0 && n > v.MaxArgs) {
		return nil, arityError(v.Name)
	}
	call.Keys, call.Args = args[:v.Keys], args[v.Keys:]
	return call, nil
}
