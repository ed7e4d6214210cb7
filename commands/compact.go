package commands

import (
	"regexp"
	"strings"
)

// compactScript is a built-in verb's script for EVAL in the middle of a
// pipeline, where Redis hashes the body on every call (its cost grows with
// the length): the prelude's helpers the verb uses, and the verb, without
// comment lines or blank lines. The built-ins have no long strings, so a
// line starting with "--" is always a comment.
func compactScript(prelude, src string) string {
	type helper struct {
		name, text string
		used       bool
	}
	var helpers []*helper
	var cur *helper
	var keep []string // prelude lines outside helpers
	for _, line := range strings.Split(prelude, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "local function "):
			name := strings.TrimPrefix(line, "local function ")
			cur = &helper{name: name[:strings.IndexByte(name, '(')]}
			cur.text = codeLines(line)
		case cur != nil:
			cur.text += codeLines(line)
			if line == "end" {
				helpers, cur = append(helpers, cur), nil
			}
		default:
			keep = append(keep, line)
		}
	}
	body := codeLines(strings.Join(keep, "\n")) + codeLines(src)
	used := body
	for changed := true; changed; {
		changed = false
		for _, h := range helpers {
			if !h.used && regexp.MustCompile(`\b`+h.name+`\(`).MatchString(used) {
				h.used, changed = true, true
				used += h.text
			}
		}
	}
	var out strings.Builder
	for _, h := range helpers {
		if h.used {
			out.WriteString(h.text)
		}
	}
	out.WriteString(body)
	return out.String()
}

// codeLines is text without blank lines and comment-only lines, each line
// ending in a newline.
func codeLines(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}
