// Package lua holds the built-in verbs' scripts, embedded in the binary.
// Each script starts with the SPEC header (verb, keys, args, flags,
// summary); prelude.lua is prepended to every built-in script.
package lua

import "embed"

// Files holds prelude.lua and one <verb>.lua per built-in verb.
//
//go:embed *.lua
var Files embed.FS
