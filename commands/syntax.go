package commands

import (
	"fmt"
	"strings"

	"github.com/redverb/redverb/verb"
)

// ParseSyntax reads a verb's syntax line, the notation of Redis's
// documentation, into COMMAND DOCS arguments:
//
//	key expected new [EX seconds | PX milliseconds | KEEPTTL]
//	key field increment [field increment ...]
//	key limit period-ms [COST n] [ALGO (GCRA | SLIDING | FIXED)]
//
// Lower-case words are arguments: the first keys of them, and any named
// *-key, are keys; names of amounts and times are integers; the rest
// strings. An upper-case word is a token: with the argument after it
// (EX seconds), or alone (KEEPTTL). [ ] is optional, | separates choices,
// ( ) groups a required choice, and "x y [x y ...]" is one repeated group.
// The line names the verb's arguments only, without the verb.
func ParseSyntax(line string, keys int) ([]verb.ArgDoc, error) {
	p := &syntaxParser{tokens: tokenize(line), keys: keys}
	args, err := p.sequence(true)
	if err == nil && p.pos < len(p.tokens) {
		err = fmt.Errorf("unexpected %q", p.tokens[p.pos])
	}
	if err != nil {
		return nil, fmt.Errorf("syntax %q: %v", line, err)
	}
	return args, nil
}

func tokenize(line string) []string {
	for _, c := range []string{"[", "]", "(", ")", "|"} {
		line = strings.ReplaceAll(line, c, " "+c+" ")
	}
	line = strings.ReplaceAll(line, "...", " ... ")
	return strings.Fields(line)
}

type syntaxParser struct {
	tokens []string
	pos    int
	keys   int // keys still to name at the top level
}

func (p *syntaxParser) peek() string {
	if p.pos < len(p.tokens) {
		return p.tokens[p.pos]
	}
	return ""
}

// sequence reads items up to "]", ")", "|" or the end.
func (p *syntaxParser) sequence(top bool) ([]verb.ArgDoc, error) {
	var seq []verb.ArgDoc
	for {
		switch t := p.peek(); {
		case t == "" || t == "]" || t == ")" || t == "|" || t == "...":
			return seq, nil // "..." is checked by group, and is an error elsewhere
		case t == "[" || t == "(":
			p.pos++
			group, repeated, err := p.group(t == "[")
			if err != nil {
				return nil, err
			}
			if repeated {
				seq = repeat(seq, group)
			} else {
				seq = append(seq, group)
			}
		case isToken(t):
			p.pos++
			arg := verb.ArgDoc{Name: strings.ToLower(t), Type: "pure-token", Token: t}
			switch next := p.peek(); {
			case next == "(":
				p.pos++
				choice, _, err := p.group(false)
				if err != nil {
					return nil, err
				}
				choice.Name, choice.Token = strings.ToLower(t), t
				arg = choice
			case next != "" && !isToken(next) && !strings.ContainsAny(next, "[]()|") && next != "...":
				p.pos++
				arg = p.word(next, false)
				arg.Token = t
			}
			seq = append(seq, arg)
		default:
			p.pos++
			seq = append(seq, p.word(t, top))
		}
	}
}

// group reads the inside of [ ] or ( ) and its closing bracket; repeated
// says it ended with "...".
func (p *syntaxParser) group(optional bool) (verb.ArgDoc, bool, error) {
	closing := ")"
	if optional {
		closing = "]"
	}
	var alts [][]verb.ArgDoc
	repeated := false
	for {
		seq, err := p.sequence(false)
		if err != nil {
			return verb.ArgDoc{}, false, err
		}
		if len(seq) == 0 {
			return verb.ArgDoc{}, false, fmt.Errorf("empty choice")
		}
		alts = append(alts, seq)
		if p.peek() == "|" {
			p.pos++
			continue
		}
		break
	}
	if p.peek() == "..." {
		p.pos++
		repeated = true
	}
	if p.peek() != closing {
		return verb.ArgDoc{}, false, fmt.Errorf("missing %q", closing)
	}
	p.pos++
	var arg verb.ArgDoc
	switch {
	case len(alts) > 1:
		arg = verb.ArgDoc{Name: "option", Type: "oneof"}
		for _, alt := range alts {
			arg.Args = append(arg.Args, block(alt))
		}
	default:
		arg = block(alts[0])
	}
	arg.Optional = optional
	return arg, repeated, nil
}

// block is one argument, or several grouped under the first one's name.
func block(seq []verb.ArgDoc) verb.ArgDoc {
	if len(seq) == 1 {
		return seq[0]
	}
	return verb.ArgDoc{Name: seq[0].Name, Type: "block", Args: seq}
}

// repeat turns "x y [x y ...]" into one repeated group, as Redis documents
// HSET's field value pairs; "[x ...]" without the first copy before it is
// an optional repeated group.
func repeat(seq []verb.ArgDoc, group verb.ArgDoc) []verb.ArgDoc {
	items := []verb.ArgDoc{group}
	if group.Type == "block" {
		items = group.Args
	}
	if n := len(items); n <= len(seq) && sameNames(seq[len(seq)-n:], items) {
		first := append([]verb.ArgDoc(nil), seq[len(seq)-n:]...) // seq's tail is overwritten below
		rep := block(first)
		if n > 1 {
			rep.Name = joinNames(first)
		}
		rep.Multiple = true
		return append(seq[:len(seq)-n], rep)
	}
	group.Multiple = true
	return append(seq, group)
}

func sameNames(a, b []verb.ArgDoc) bool {
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Token != b[i].Token {
			return false
		}
	}
	return true
}

func joinNames(args []verb.ArgDoc) string {
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = a.Name
	}
	return strings.Join(names, "_")
}

// word is an argument named name.
func (p *syntaxParser) word(name string, top bool) verb.ArgDoc {
	arg := verb.ArgDoc{Name: name, Type: "string"}
	switch {
	case top && p.keys > 0:
		p.keys--
		arg.Type = "key"
	case strings.HasSuffix(name, "-key"):
		arg.Type = "key"
	case integerNames[name] || strings.HasSuffix(name, "-ms") || strings.HasSuffix(name, "-s"):
		arg.Type = "integer"
	}
	return arg
}

// integerNames are argument names that hold whole numbers.
var integerNames = map[string]bool{
	"seconds": true, "milliseconds": true, "count": true, "n": true, "amount": true,
	"increment": true, "max": true, "limit": true, "quantity": true, "max-burst": true,
}

func isToken(t string) bool {
	return t != "" && t == strings.ToUpper(t) && strings.ToLower(t) != t
}
