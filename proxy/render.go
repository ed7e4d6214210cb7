package proxy

import (
	"strconv"

	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/verb"
	"github.com/tidwall/redcon"
)

// protocol is a client's RESP version (2 or 3, as HELLO set it), which
// decides how the proxy's own replies are rendered.
type protocol int

// appendNull writes a null: RESP3's, or RESP2's null bulk string.
func (p protocol) appendNull(dst []byte) []byte {
	if p == 3 {
		return append(dst, "_\r\n"...)
	}
	return append(dst, "$-1\r\n"...)
}

// appendSetHeader starts a RESP3 set, or an array in RESP2.
func (p protocol) appendSetHeader(dst []byte, n int) []byte {
	if p == 3 {
		return resp.AppendHeader(dst, '~', n)
	}
	return resp.AppendHeader(dst, '*', n)
}

// appendMapHeader starts a RESP3 map, or a flat array of pairs in RESP2.
func (p protocol) appendMapHeader(dst []byte, pairs int) []byte {
	if p == 3 {
		return resp.AppendHeader(dst, '%', pairs)
	}
	return resp.AppendHeader(dst, '*', 2*pairs)
}

// appendText writes a bulk string, or a verbatim string in RESP3 as Redis
// does for CLIENT INFO and CLIENT LIST.
func (p protocol) appendText(dst []byte, text string) []byte {
	if p == 3 {
		dst = resp.AppendHeader(dst, '=', len(text)+4)
		dst = append(dst, "txt:"...)
		dst = append(dst, text...)
		return append(dst, '\r', '\n')
	}
	return redcon.AppendBulkString(dst, text)
}

// asProto turns a RESP2 null into this client's null.
func (p protocol) asProto(reply []byte) []byte {
	if string(reply) == "$-1\r\n" || string(reply) == "*-1\r\n" {
		return p.appendNull(nil)
	}
	return reply
}

// appendCommandInfo writes a verb as one entry of COMMAND's reply.
func (p protocol) appendCommandInfo(dst []byte, v verb.Info) []byte {
	dst = resp.AppendHeader(dst, '*', 10)
	dst = redcon.AppendBulkString(dst, v.Name)
	dst = redcon.AppendInt(dst, int64(v.Arity()))
	flag := "write"
	if v.ReadOnly {
		flag = "readonly"
	}
	dst = p.appendSetHeader(dst, 1)
	dst = redcon.AppendString(dst, flag)
	first, last, step := 0, 0, 0
	if v.Keys > 0 {
		first, last, step = 1, v.Keys, 1
	}
	dst = redcon.AppendInt(dst, int64(first))
	dst = redcon.AppendInt(dst, int64(last))
	dst = redcon.AppendInt(dst, int64(step))
	dst = p.appendSetHeader(dst, 1)
	dst = redcon.AppendString(dst, "@scripting")
	dst = resp.AppendHeader(dst, '*', 0) // tips
	if v.Keys == 0 {
		dst = resp.AppendHeader(dst, '*', 0)
	} else { // one key spec: keys are the arguments 1..Keys
		dst = resp.AppendHeader(dst, '*', 1)
		dst = p.appendMapHeader(dst, 3)
		dst = redcon.AppendBulkString(dst, "flags")
		dst = p.appendSetHeader(dst, 1)
		if v.ReadOnly {
			dst = redcon.AppendString(dst, "RO")
		} else {
			dst = redcon.AppendString(dst, "RW")
		}
		dst = redcon.AppendBulkString(dst, "begin_search")
		dst = p.appendMapHeader(dst, 2)
		dst = redcon.AppendBulkString(dst, "type")
		dst = redcon.AppendBulkString(dst, "index")
		dst = redcon.AppendBulkString(dst, "spec")
		dst = p.appendMapHeader(dst, 1)
		dst = redcon.AppendBulkString(dst, "index")
		dst = redcon.AppendInt(dst, 1)
		dst = redcon.AppendBulkString(dst, "find_keys")
		dst = p.appendMapHeader(dst, 2)
		dst = redcon.AppendBulkString(dst, "type")
		dst = redcon.AppendBulkString(dst, "range")
		dst = redcon.AppendBulkString(dst, "spec")
		dst = p.appendMapHeader(dst, 3)
		dst = redcon.AppendBulkString(dst, "lastkey")
		dst = redcon.AppendInt(dst, int64(v.Keys-1))
		dst = redcon.AppendBulkString(dst, "keystep")
		dst = redcon.AppendInt(dst, 1)
		dst = redcon.AppendBulkString(dst, "limit")
		dst = redcon.AppendInt(dst, 0)
	}
	return resp.AppendHeader(dst, '*', 0) // subcommands
}

// appendDocs writes a verb's COMMAND DOCS entry: summary and arguments,
// which redis-cli turns into hints.
func (p protocol) appendDocs(dst []byte, v verb.Info) []byte {
	dst = p.appendMapHeader(dst, 5)
	dst = redcon.AppendBulkString(dst, "summary")
	dst = redcon.AppendBulkString(dst, v.Summary)
	dst = redcon.AppendBulkString(dst, "since")
	dst = redcon.AppendBulkString(dst, "redverb")
	dst = redcon.AppendBulkString(dst, "group")
	dst = redcon.AppendBulkString(dst, "scripting")
	dst = redcon.AppendBulkString(dst, "complexity")
	dst = redcon.AppendBulkString(dst, "O(1)")
	dst = redcon.AppendBulkString(dst, "arguments")
	if v.Args != nil {
		return p.appendArgDocs(dst, v.Args)
	}
	optional := v.MaxArgs != v.MinArgs
	dst = resp.AppendHeader(dst, '*', v.Keys+v.MinArgs+btoi(optional))
	for i := 0; i < v.Keys; i++ {
		dst = p.appendArgDoc(dst, "key"+strconv.Itoa(i+1), "key", "")
	}
	for i := 0; i < v.MinArgs; i++ {
		dst = p.appendArgDoc(dst, "arg"+strconv.Itoa(i+1), "string", "")
	}
	if optional {
		dst = p.appendArgDoc(dst, "option", "string", "optional")
	}
	return dst
}

func (p protocol) appendArgDoc(dst []byte, name, typ, flag string) []byte {
	pairs := 3
	if flag != "" {
		pairs++
	}
	dst = p.appendMapHeader(dst, pairs)
	dst = redcon.AppendBulkString(dst, "name")
	dst = redcon.AppendBulkString(dst, name)
	dst = redcon.AppendBulkString(dst, "type")
	dst = redcon.AppendBulkString(dst, typ)
	dst = redcon.AppendBulkString(dst, "display_text")
	dst = redcon.AppendBulkString(dst, name)
	if flag != "" {
		dst = redcon.AppendBulkString(dst, "flags")
		dst = p.appendSetHeader(dst, 1)
		dst = redcon.AppendString(dst, flag)
	}
	return dst
}

// appendArgDocs writes named arguments as Redis's own COMMAND DOCS does:
// name, type, the key spec of a key, token, flags, and the arguments of a
// choice or group; display_text for a value, which newer redis-cli shows.
func (p protocol) appendArgDocs(dst []byte, args []verb.ArgDoc) []byte {
	dst = resp.AppendHeader(dst, '*', len(args))
	for _, a := range args {
		var flags []string
		if a.Optional {
			flags = append(flags, "optional")
		}
		if a.Multiple {
			flags = append(flags, "multiple")
		}
		value := a.Type != "pure-token" && a.Type != "oneof" && a.Type != "block"
		pairs := 2 + btoi(a.Type == "key") + btoi(value) + btoi(a.Token != "") + btoi(len(flags) > 0) + btoi(len(a.Args) > 0)
		dst = p.appendMapHeader(dst, pairs)
		dst = redcon.AppendBulkString(dst, "name")
		dst = redcon.AppendBulkString(dst, a.Name)
		dst = redcon.AppendBulkString(dst, "type")
		dst = redcon.AppendBulkString(dst, a.Type)
		if a.Type == "key" {
			dst = redcon.AppendBulkString(dst, "key_spec_index")
			dst = redcon.AppendInt(dst, 0)
		}
		if value {
			dst = redcon.AppendBulkString(dst, "display_text")
			dst = redcon.AppendBulkString(dst, a.Name)
		}
		if a.Token != "" {
			dst = redcon.AppendBulkString(dst, "token")
			dst = redcon.AppendBulkString(dst, a.Token)
		}
		if len(flags) > 0 {
			dst = redcon.AppendBulkString(dst, "flags")
			dst = p.appendSetHeader(dst, len(flags))
			for _, f := range flags {
				dst = redcon.AppendString(dst, f)
			}
		}
		if len(a.Args) > 0 {
			dst = redcon.AppendBulkString(dst, "arguments")
			dst = p.appendArgDocs(dst, a.Args)
		}
	}
	return dst
}
