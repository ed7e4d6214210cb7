package proxy

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/redcon"

	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/verb"
)

// cmdCommand answers COMMAND, COMMAND COUNT, INFO and DOCS with the
// backend's own answer plus the verbs, so that redis-cli shows hints and
// cluster-aware clients find the verbs' keys. Other subcommands go to the
// backend as they are.
func cmdCommand(s *Session, args [][]byte) {
	verbs := verbInfos(s)
	sub := ""
	if len(args) > 1 {
		sub = strings.ToLower(string(args[1]))
	}
	switch {
	case sub == "" || (sub == "info" && len(args) == 2):
		start := len(s.out)
		s.forward([]byte("COMMAND"))
		if all := resp.SplitArray(s.out[start:]); all != nil {
			all = slices.DeleteFunc(all, func(e []byte) bool {
				fields := resp.SplitArray(e)
				return len(fields) > 0 && replaced(verbs, fields[0])
			})
			s.out = resp.AppendHeader(s.out[:start], '*', len(all)+len(verbs))
			for _, e := range all {
				s.out = append(s.out, e...)
			}
			for _, v := range verbs {
				s.out = s.proto.appendCommandInfo(s.out, v)
			}
		}
	case sub == "count" && len(args) == 2:
		start := len(s.out)
		s.forward([]byte("COMMAND"), []byte("COUNT"))
		n, err := strconv.Atoi(strings.TrimSpace(string(s.out[start+1:])))
		if err != nil || s.out[start] != ':' {
			// A backend that answers COUNT with something else (the
			// embedded demo answers with COMMAND's table): count the table.
			if resp.IsError(s.out[start:]) {
				return
			}
			all, ok := commandTable(s)
			if !ok {
				return
			}
			s.out, n = s.out[:start], len(all)
		}
		for _, v := range verbs {
			if v.Emulates != nil && s.srv.Backend.HasCommand(v.Name) {
				n-- // shown in place of the backend's
			}
		}
		s.out = redcon.AppendInt(s.out[:start], int64(n+len(verbs)))
	case sub == "info":
		mergeByName(s, args, verbs, false)
	case sub == "docs":
		mergeByName(s, args, verbs, true)
	default:
		s.forward(args...)
	}
}

// mergeByName answers COMMAND INFO|DOCS name...: verbs from the proxy, the
// rest from the backend, in the order asked.
func mergeByName(s *Session, args [][]byte, verbs []verb.Info, docs bool) {
	byName := map[string]verb.Info{}
	for _, v := range verbs {
		byName[v.Name] = v
	}
	names := args[2:]
	var backendNames [][]byte
	for _, n := range names {
		if _, ok := byName[strings.ToLower(string(n))]; !ok {
			backendNames = append(backendNames, n)
		}
	}
	if docs && len(names) == 0 {
		backendNames = nil
	}
	var theirs [][]byte
	if len(backendNames) > 0 || len(names) == 0 {
		start := len(s.out)
		s.forward(append([][]byte{args[0], args[1]}, backendNames...)...)
		reply := append([]byte(nil), s.out[start:]...)
		s.out = s.out[:start]
		theirs = resp.SplitArray(mapAsArray(reply))
		if theirs == nil {
			s.out = append(s.out, reply...)
			return
		}
		switch {
		case docs && !docsShaped(theirs) && len(names) == 0:
			// The backend has no COMMAND DOCS (or answers it with another
			// command's reply, as the embedded demo does). Answer as a
			// Redis without the subcommand: redis-cli then takes its
			// built-in help, and the verbs' hints from COMMAND.
			s.out = resp.AppendError(s.out, "ERR Unknown subcommand or wrong number of arguments for 'DOCS'. Try COMMAND HELP.")
			return
		case docs && !docsShaped(theirs):
			theirs = nil
		case !docs && len(theirs) != len(backendNames):
			theirs = commandInfoFromTable(s, backendNames)
		}
	}
	if !docs {
		s.out = resp.AppendHeader(s.out, '*', len(names))
		next := 0
		for _, n := range names {
			if v, ok := byName[strings.ToLower(string(n))]; ok {
				s.out = s.proto.appendCommandInfo(s.out, v)
			} else if next < len(theirs) {
				s.out = append(s.out, theirs[next]...)
				next++
			}
		}
		return
	}
	var mine []verb.Info
	if len(names) == 0 {
		mine = verbs
	} else {
		for _, n := range names {
			if v, ok := byName[strings.ToLower(string(n))]; ok {
				mine = append(mine, v)
			}
		}
	}
	for i := 0; i+1 < len(theirs); {
		if replaced(mine, theirs[i]) {
			theirs = slices.Delete(theirs, i, i+2)
			continue
		}
		i += 2
	}
	pairs := len(theirs)/2 + len(mine)
	if s.proto == 3 {
		s.out = resp.AppendHeader(s.out, '%', pairs)
	} else {
		s.out = resp.AppendHeader(s.out, '*', 2*pairs)
	}
	for _, e := range theirs {
		s.out = append(s.out, e...)
	}
	for _, v := range mine {
		s.out = redcon.AppendBulkString(s.out, v.Name)
		s.out = s.proto.appendDocs(s.out, v)
	}
}

// docsShaped reports whether elems, a COMMAND DOCS reply split, pairs
// command names with maps of their docs, as Redis 7 answers.
func docsShaped(elems [][]byte) bool {
	if len(elems)%2 != 0 {
		return false
	}
	for i := 0; i < len(elems); i += 2 {
		if elems[i][0] != '$' || (elems[i+1][0] != '*' && elems[i+1][0] != '%') {
			return false
		}
	}
	return true
}

// commandTable returns the entries of the backend's COMMAND reply.
func commandTable(s *Session) ([][]byte, bool) {
	start := len(s.out)
	s.forward([]byte("COMMAND"))
	all := resp.SplitArray(s.out[start:])
	s.out = s.out[:start]
	return all, all != nil
}

// commandInfoFromTable answers COMMAND INFO names from the whole COMMAND
// table, for a backend whose COMMAND INFO ignores the names (the embedded
// demo): an entry per name, nil for a name it does not know.
func commandInfoFromTable(s *Session, names [][]byte) [][]byte {
	all, _ := commandTable(s)
	byName := make(map[string][]byte, len(all))
	for _, e := range all {
		if fields := resp.SplitArray(e); len(fields) > 0 {
			byName[strings.ToLower(string(resp.Text(fields[0])))] = e
		}
	}
	entries := make([][]byte, len(names))
	for i, n := range names {
		if entries[i] = byName[strings.ToLower(string(n))]; entries[i] == nil {
			entries[i] = s.proto.appendNull(nil)
		}
	}
	return entries
}

// mapAsArray rewrites a RESP3 map header as the flat array of its keys and
// values, so that its elements can be split; other replies pass.
func mapAsArray(reply []byte) []byte {
	if len(reply) == 0 || reply[0] != '%' {
		return reply
	}
	end := bytes.IndexByte(reply, '\n')
	n, err := strconv.Atoi(string(reply[1 : end-1]))
	if err != nil {
		return reply
	}
	return append(resp.AppendHeader(nil, '*', 2*n), reply[end+1:]...)
}

// verbInfos lists the verbs in force on this backend: a stand-in only
// where the backend lacks its command or some of its options, and then in
// place of the backend's own entry.
func verbInfos(s *Session) []verb.Info {
	return s.srv.commands().verbs
}

// replaced reports whether the backend's entry for a command, raw, is one a
// verb stands in for (SET where the backend lacks IFEQ): the verb's entry
// is shown instead.
func replaced(verbs []verb.Info, name []byte) bool {
	name = resp.Text(name)
	for _, v := range verbs {
		if v.Emulates != nil && strings.EqualFold(v.Name, string(name)) {
			return true
		}
	}
	return false
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cmdRedverb answers REDVERB VERBS, RELOAD and HOTKEYS.
func cmdRedverb(s *Session, args [][]byte) {
	if len(args) >= 2 && strings.EqualFold(string(args[1]), "hotkeys") {
		cmdHotkeys(s, args)
		return
	}
	if len(args) != 2 {
		s.arityError("redverb")
		return
	}
	switch strings.ToLower(string(args[1])) {
	case "verbs":
		verbs := verbInfos(s)
		s.out = resp.AppendHeader(s.out, '*', len(verbs))
		for _, v := range verbs {
			s.out = resp.AppendHeader(s.out, '*', 4)
			s.out = redcon.AppendBulkString(s.out, v.Name)
			s.out = redcon.AppendBulkString(s.out, v.SHA)
			s.out = redcon.AppendInt(s.out, int64(v.Keys))
			s.out = redcon.AppendBulkString(s.out, v.Source)
		}
	case "reload":
		if s.srv.Verbs == nil {
			s.out = resp.AppendError(s.out, "ERR no verbs registry")
			return
		}
		if err := s.srv.ReloadVerbs(); err != nil {
			s.out = resp.AppendError(s.out, "ERR reload refused, previous verbs stay in force: "+strings.ReplaceAll(err.Error(), "\n", "; "))
			return
		}
		s.out = append(s.out, "+OK\r\n"...)
	default:
		s.out = resp.AppendError(s.out, "ERR unknown subcommand '"+string(args[1])+"'. Try REDVERB VERBS, REDVERB RELOAD or REDVERB HOTKEYS [COUNT n].")
	}
}
