package proxy

import "time"

// Verbs is how the proxy learns about commands it runs as scripts on the
// backend. The proxy knows nothing of what a verb does: it runs the script
// by SHA1 (EVALSHA), loads it when the backend has forgotten it, and applies
// the call's reply conversion and retry policy.
type Verbs interface {
	// IsVerb reports whether a lower-case command name is a verb.
	IsVerb(name []byte) bool
	// Resolve checks a verb's arguments (args[0] is the verb) and returns
	// the script call. An error is answered to the client as is; nothing
	// reaches the backend. mayWait is false where the call cannot wait
	// (inside MULTI), so verbs that wait must try once.
	Resolve(args [][]byte, mayWait bool) (*ScriptCall, error)
	// List describes every verb, for COMMAND and REDVERB VERBS.
	List() []VerbInfo
	// Reload rereads user-defined verbs; on error the previous set stays.
	Reload() error
	// Libraries are the verbs as Redis function libraries (one per verb,
	// named after its script's SHA1), which the proxy loads on its shared
	// connections so that verbs run with FCALL and pipeline like any
	// command (see verbcall.go).
	Libraries() []Library
}

// Library is a Redis function library: FUNCTION LOAD takes Code.
type Library struct {
	Name string
	Code string
}

// ScriptCall is one verb invocation, ready to run.
type ScriptCall struct {
	SHA    string
	Script string
	// Function is the name the script has as a Redis function, and
	// Library the code of the library that defines it; empty if none.
	Function string
	Library  string
	Keys     [][]byte
	Args     [][]byte

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
}

// VerbInfo describes a verb for introspection.
type VerbInfo struct {
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
func (v VerbInfo) Arity() int {
	n := 1 + v.Keys + v.MinArgs
	if v.MaxArgs != v.MinArgs {
		return -n
	}
	return n
}
