// Package verb is the contract between the proxy and the verbs it runs as
// scripts: a call ready to run, and what the proxy may ask of a set of verbs.
package verb

import (
	"strconv"
	"strings"
	"time"

	"github.com/redverb/redverb/internal/resp"
)

// Set is how the proxy learns about commands it runs as scripts on the
// backend. The proxy knows nothing of what a verb does: it runs the script
// by SHA1 (EVALSHA), loads it when the backend has forgotten it, and applies
// the call's reply conversion and retry policy.
type Set interface {
	// Verbs are the verbs, stand-ins included whether the backend needs
	// them or not, sorted by name. The proxy looks each up once per
	// command table it builds, never per call.
	Verbs() []Verb
	// Reload rereads user-defined verbs; on error the previous set stays.
	Reload() error
	// Libraries are the verbs as Redis function libraries (one per verb,
	// named after its script's SHA1), which the proxy loads on its shared
	// connections so that verbs run with FCALL and pipeline like any
	// command (see the proxy's verbcall.go).
	Libraries() []Library
}

// Verb is one verb of a Set.
type Verb interface {
	// Info describes the verb, for COMMAND and REDVERB VERBS.
	Info() Info
	// Resolve checks a call's arguments (args[0] is the verb's name) and
	// returns the script call. An error is answered to the client as is;
	// nothing reaches the backend. mayWait is false where the call cannot
	// wait (inside MULTI), so verbs that wait must try once.
	Resolve(args [][]byte, mayWait bool) (*Call, error)
}

// Library is a Redis function library: FUNCTION LOAD takes Code.
type Library struct {
	Name string
	Code string
}

// Call is one verb invocation, ready to run.
type Call struct {
	SHA    string
	Script string
	// Function is the name the script has as a Redis function, and
	// Library the code of the library that defines it; empty if none.
	Function string
	Library  string
	// Compact is the script as sent with EVAL where the call has commands
	// of its client behind it in one batch: EVAL cannot find the script
	// missing (a FUNCTION FLUSH, a restart), so nothing sent after it can
	// run before it; short, because Redis hashes the body on every call.
	// Empty: Script.
	Compact string
	Keys    [][]byte
	Args    [][]byte

	// Convert, if set, rewrites a successful raw reply before the client
	// sees it (for example a bulk string holding an exact int64 into an
	// integer reply, which Lua numbers cannot carry).
	Convert func(reply []byte) []byte

	// PairsReply marks a reply that is a flat list of field/value pairs,
	// as HGETALL's: RESP3 clients get it as a map, as HGETALL would give.
	PairsReply bool

	// Retry, if set, says whether to run the call again (and after how
	// long at most) given its reply. The proxy retries until Deadline,
	// waking early when Wake is published on the channel WakeChannel.
	Retry       func(reply []byte) (again bool, wait time.Duration)
	Deadline    time.Time
	WakeChannel string
	Wake        string

	// Then, if set, continues a call that takes more than one script
	// (a condition on a value's digest, which a script cannot compute):
	// given the reply, it returns the call to run next, or nil and the
	// client's answer, in RESP2 (a null is sent as RESP3's to a RESP3
	// client). Such a call ends its pipeline batch, and is refused inside
	// MULTI, where its first reply would only come with EXEC's; on a
	// connection of its own (WATCH, CLIENT TRACKING) it runs alone.
	Then func(reply []byte) (next *Call, final []byte)
}

// AppendCall encodes a call as EVALSHA (or EVAL with the body, where a
// reload cannot be done in order, such as inside MULTI).
func (c *Call) AppendCall(dst []byte, withBody bool) []byte {
	if withBody {
		return c.appendInvocation(dst, "EVAL", c.Script)
	}
	return c.appendInvocation(dst, "EVALSHA", c.SHA)
}

// AppendCompactEval encodes the call as EVAL with its compact body.
func (c *Call) AppendCompactEval(dst []byte) []byte {
	if c.Compact == "" {
		return c.appendInvocation(dst, "EVAL", c.Script)
	}
	return c.appendInvocation(dst, "EVAL", c.Compact)
}

// AppendFCall encodes the call as FCALL.
func (c *Call) AppendFCall(dst []byte) []byte {
	return c.appendInvocation(dst, "FCALL", c.Function)
}

// appendInvocation encodes cmd script numkeys key... arg..., the form
// EVAL, EVALSHA and FCALL share.
func (c *Call) appendInvocation(dst []byte, cmd, script string) []byte {
	dst = resp.AppendHeader(dst, '*', 3+len(c.Keys)+len(c.Args))
	dst = resp.AppendBulk(dst, cmd)
	dst = resp.AppendBulk(dst, script)
	dst = resp.AppendBulk(dst, strconv.Itoa(len(c.Keys)))
	for _, a := range c.Keys {
		dst = resp.AppendBulk(dst, a)
	}
	for _, a := range c.Args {
		dst = resp.AppendBulk(dst, a)
	}
	return dst
}

// Info describes a verb for introspection.
type Info struct {
	Name     string
	Keys     int
	MinArgs  int // arguments after the keys
	MaxArgs  int // -1: no limit
	ReadOnly bool
	Summary  string
	SHA      string
	Source   string
	// Args are the named arguments after the verb, from the file's
	// "-- syntax:" line, for COMMAND DOCS and redis-cli hints. If nil,
	// generic names.
	Args []ArgDoc
	// Emulates is set for a stand-in for a Redis command.
	Emulates *Emulation
}

// Emulation marks a verb that stands in for the Redis command of the same
// name on backends that lack it (DELEX on Redis 7), or lack some of its
// options (SET ... IFEQ): calls the backend can answer go to it untouched.
type Emulation struct {
	Options []string // upper case; if set, only calls using one of these need the verb
}

// Claims says which calls of the command name the stand-in takes on a
// backend with native's commands and options: every call, or only those
// using one of options (upper case), or none (every false, options nil).
func (e *Emulation) Claims(name string, native Native) (every bool, options []string) {
	if len(e.Options) == 0 {
		return !native.HasCommand(name), nil
	}
	for _, opt := range e.Options {
		if !native.HasOption(name, opt) {
			options = append(options, opt)
		}
	}
	return false, options
}

// UsesOption reports whether a call (args[0] is the command) names one of
// options, in any case.
func UsesOption(args [][]byte, options []string) bool {
	for _, a := range args[min(1, len(args)):] {
		for _, opt := range options {
			if len(a) == len(opt) && strings.EqualFold(string(a), opt) {
				return true
			}
		}
	}
	return false
}

// Native tells what the backend implements itself, from its COMMAND and
// COMMAND DOCS replies.
type Native interface {
	// HasCommand reports whether the backend has a lower-case command.
	HasCommand(name string) bool
	// HasOption reports whether a command's documented arguments include
	// an option token (upper case).
	HasOption(name, token string) bool
}

// ArgDoc is one argument as COMMAND DOCS describes it: a key, a value, a
// token alone (pure-token), a choice (oneof) or a group (block).
type ArgDoc struct {
	Name     string
	Type     string // key, string, integer, pure-token, oneof, block
	Token    string // the keyword before it, if any
	Optional bool
	Multiple bool
	Args     []ArgDoc // of a oneof or block
}

// Arity is the verb's arity as COMMAND reports it: positive when fixed,
// negative for a minimum.
func (v Info) Arity() int {
	n := 1 + v.Keys + v.MinArgs
	if v.MaxArgs != v.MinArgs {
		return -n
	}
	return n
}
