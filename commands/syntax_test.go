package commands

import (
	"reflect"
	"strings"
	"testing"

	"github.com/redverb/redverb/verb"
)

func TestParseSyntax(t *testing.T) {
	key := func(n string) verb.ArgDoc { return verb.ArgDoc{Name: n, Type: "key"} }
	str := func(n string) verb.ArgDoc { return verb.ArgDoc{Name: n, Type: "string"} }
	num := func(n string) verb.ArgDoc { return verb.ArgDoc{Name: n, Type: "integer"} }
	tok := func(t string) verb.ArgDoc {
		return verb.ArgDoc{Name: strings.ToLower(t), Type: "pure-token", Token: t}
	}
	with := func(a verb.ArgDoc, token string) verb.ArgDoc { a.Token = token; return a }
	opt := func(a verb.ArgDoc) verb.ArgDoc { a.Optional = true; return a }
	for _, tc := range []struct {
		line string
		keys int
		want []verb.ArgDoc
		err  string
	}{
		{line: "key expected new [EX seconds | PX milliseconds | KEEPTTL]", keys: 1, want: []verb.ArgDoc{
			key("key"), str("expected"), str("new"),
			opt(verb.ArgDoc{Name: "option", Type: "oneof", Args: []verb.ArgDoc{with(num("seconds"), "EX"), with(num("milliseconds"), "PX"), tok("KEEPTTL")}}),
		}},
		{line: "source destination amount [ONCE receipt-key seconds]", keys: 2, want: []verb.ArgDoc{
			key("source"), key("destination"), num("amount"),
			opt(verb.ArgDoc{Name: "receipt-key", Type: "block", Args: []verb.ArgDoc{with(key("receipt-key"), "ONCE"), num("seconds")}}),
		}},
		{line: "key field increment [field increment ...]", keys: 1, want: []verb.ArgDoc{
			key("key"), {Name: "field_increment", Type: "block", Multiple: true, Args: []verb.ArgDoc{str("field"), num("increment")}},
		}},
		{line: "key [key ...]", keys: 1, want: []verb.ArgDoc{{Name: "key", Type: "key", Multiple: true}}},
		{line: "channel [pattern ...]", want: []verb.ArgDoc{str("channel"), {Name: "pattern", Type: "string", Optional: true, Multiple: true}}},
		{line: "key limit period-ms [COST n] [ALGO (GCRA | SLIDING | FIXED)]", keys: 1, want: []verb.ArgDoc{
			key("key"), num("limit"), num("period-ms"), opt(with(num("n"), "COST")),
			opt(verb.ArgDoc{Name: "algo", Type: "oneof", Token: "ALGO", Args: []verb.ArgDoc{tok("GCRA"), tok("SLIDING"), tok("FIXED")}}),
		}},
		{line: "key token ttl-ms [WAIT timeout-ms] [FENCE]", keys: 1, want: []verb.ArgDoc{
			key("key"), str("token"), num("ttl-ms"), opt(with(num("timeout-ms"), "WAIT")), opt(tok("FENCE")),
		}},
		{line: "key [value", keys: 1, err: `missing "]"`},
		{line: "key value ...", keys: 1, err: `unexpected "..."`},
		{line: "key [ | x]", keys: 1, err: "empty choice"},
		{line: "key ]", keys: 1, err: `unexpected "]"`},
		{line: "a | b", err: `unexpected "|"`},
	} {
		got, err := ParseSyntax(tc.line, tc.keys)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v, %v\nwant %+v", tc.line, got, err, tc.want)
		}
	}
}

// A syntax line must agree with the keys and args headers.
func TestSyntaxMustMatchArity(t *testing.T) {
	_, err := ParseVerb("-- verb: X\n-- keys: 1\n-- args: 2\n-- syntax: key value\nreturn 1\n", "x.lua")
	if err == nil || !strings.Contains(err.Error(), "x.lua:4: syntax names 2 required arguments, but keys and args say 3") {
		t.Fatalf("error %v", err)
	}
	v, err := ParseVerb("-- verb: X\n-- keys: 1\n-- args: 1-3\n-- syntax: key value [EX seconds]\nreturn 1\n", "x.lua")
	if err != nil || len(v.Info().Args) != 3 {
		t.Fatalf("%v %+v", err, v)
	}
}
