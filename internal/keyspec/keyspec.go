// Package keyspec reads a Redis server's COMMAND reply: each command's
// flags that matter to routing, and its key specs, which say where a call's
// keys are, so that module and newer commands route without a hand-kept list.
package keyspec

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/redverb/redverb/internal/resp"
)

// Command is one command's entry.
type Command struct {
	Specs    []Spec
	ReadOnly bool
	Write    bool // flag write (or may_replicate, which newer servers show): CLIENT PAUSE WRITE holds it
	Subs     bool // a container command: look its subcommand up instead
}

// Spec is one of Redis's key specs: where the search for keys begins and
// how keys are found from there.
type Spec struct {
	keyword   string // begin_search keyword; "" for index
	index     int    // begin_search index, or the keyword's startfrom
	keynum    bool   // find_keys keynum; else range
	lastkey   int    // range
	keystep   int    // range and keynum
	limit     int    // range
	keynumidx int    // keynum
	firstkey  int    // keynum
}

// FirstKey returns the index in args of the command's first key, or -1.
func (ck *Command) FirstKey(args [][]byte) int {
	if ck == nil {
		return -1
	}
	for _, sp := range ck.Specs {
		if first, _, _ := sp.keys(args); first > 0 {
			return first
		}
	}
	return -1
}

// Keys appends to dst every key of a call, as its key specs find them
// (a key two specs find appears twice).
func (ck *Command) Keys(args [][]byte, dst [][]byte) [][]byte {
	if ck == nil {
		return dst
	}
	for _, sp := range ck.Specs {
		first, last, step := sp.keys(args)
		for i := first; first > 0 && i <= last && i < len(args); i += step {
			dst = append(dst, args[i])
		}
	}
	return dst
}

// keys returns where one spec's keys are in args: from first to last by
// step; first is 0 when the spec finds none.
func (sp *Spec) keys(args [][]byte) (first, last, step int) {
	argc := len(args)
	first = sp.index
	if sp.keyword != "" {
		first = -1
		start, end, step := sp.index, argc-1, 1
		if sp.index < 0 {
			start, end, step = argc+sp.index, 1, -1
		}
		for i := start; i >= 1 && i < argc && (step > 0 && i <= end || step < 0 && i >= end); i += step {
			if bytes.EqualFold(args[i], []byte(sp.keyword)) {
				first = i + 1
				break
			}
		}
	}
	if first <= 0 || first >= argc {
		return 0, 0, 1
	}
	step = max(sp.keystep, 1)
	if sp.keynum {
		n, err := strconv.Atoi(string(args[min(first+sp.keynumidx, argc-1)]))
		if err != nil || n <= 0 || first+sp.firstkey >= argc {
			return 0, 0, 1
		}
		return first + sp.firstkey, first + sp.firstkey + (n-1)*step, step
	}
	switch {
	case sp.lastkey >= 0:
		last = first + sp.lastkey
	case sp.limit > 1: // the keys are the first 1/limit of what is left
		last = first + (argc-first)/sp.limit - 1
	default:
		last = argc + sp.lastkey
	}
	return first, last, step
}

// Parse reads a COMMAND reply: every command by lower-case name, its
// subcommands as "name|sub".
func Parse(reply []byte) map[string]*Command {
	cmds := map[string]*Command{}
	for _, entry := range resp.SplitArray(reply) {
		addCommand(cmds, entry)
	}
	return cmds
}

// addCommand reads one entry of COMMAND's reply: name, arity, flags,
// first key, last key, step, ACL categories, tips, key specs, subcommands.
func addCommand(cmds map[string]*Command, entry []byte) {
	f := resp.SplitArray(entry)
	if len(f) < 6 {
		return
	}
	name := strings.ToLower(string(resp.Text(f[0])))
	ck := &Command{}
	for _, flag := range resp.SplitArray(f[2]) {
		switch string(resp.Text(flag)) {
		case "readonly":
			ck.ReadOnly = true
		case "write", "may_replicate":
			ck.Write = true
		}
	}
	if len(f) >= 9 {
		for _, spec := range resp.SplitArray(f[8]) {
			if sp, ok := parseKeySpec(spec); ok {
				ck.Specs = append(ck.Specs, sp)
			}
		}
	}
	if len(ck.Specs) == 0 {
		// Before key specs (Redis < 7): first key, last key and step.
		if first := resp.Int(f[3]); first > 0 {
			last := resp.Int(f[4]) // absolute, or counted from the end
			if last > 0 {
				last -= first
			}
			ck.Specs = []Spec{{index: first, lastkey: last, keystep: resp.Int(f[5])}}
		}
	}
	if len(f) >= 10 {
		for _, sub := range resp.SplitArray(f[9]) {
			ck.Subs = true
			addCommand(cmds, sub)
		}
	}
	cmds[name] = ck
}

// parseKeySpec reads one key spec (a flat field/value array in RESP2).
func parseKeySpec(raw []byte) (Spec, bool) {
	var sp Spec
	fields := fieldMap(raw)
	begin, find := fieldMap(fields["begin_search"]), fieldMap(fields["find_keys"])
	bspec, fspec := fieldMap(begin["spec"]), fieldMap(find["spec"])
	switch string(resp.Text(begin["type"])) {
	case "index":
		sp.index = resp.Int(bspec["index"])
	case "keyword":
		sp.keyword = string(resp.Text(bspec["keyword"]))
		sp.index = resp.Int(bspec["startfrom"])
	default:
		return sp, false
	}
	switch string(resp.Text(find["type"])) {
	case "range":
		sp.lastkey, sp.keystep, sp.limit = resp.Int(fspec["lastkey"]), resp.Int(fspec["keystep"]), resp.Int(fspec["limit"])
	case "keynum":
		sp.keynum = true
		sp.keynumidx, sp.firstkey, sp.keystep = resp.Int(fspec["keynumidx"]), resp.Int(fspec["firstkey"]), resp.Int(fspec["keystep"])
	default:
		return sp, false
	}
	return sp, true
}

// fieldMap reads a flat array of bulk-string names and raw values.
func fieldMap(raw []byte) map[string][]byte {
	elems := resp.SplitArray(raw)
	m := make(map[string][]byte, len(elems)/2)
	for i := 0; i+1 < len(elems); i += 2 {
		m[string(resp.Text(elems[i]))] = elems[i+1]
	}
	return m
}
