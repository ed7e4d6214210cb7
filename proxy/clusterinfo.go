package proxy

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/redverb/redverb/internal/resp"
)

// INFO on a cluster answers as one server holding all the data would: the
// masters' counts summed (clients, memory, stats, keyspace per database,
// commandstats, errorstats), their peaks and limits as the largest, and
// everything describing one server (version, role, ports) as the first
// master has it.

// clusterInfo answers INFO from every master's.
func clusterInfo(s *Session, args [][]byte) {
	parts := onMasters(s, args)
	if answeredError(s, parts) {
		return
	}
	texts := make([]string, len(parts))
	for i, p := range parts {
		texts[i] = string(infoText(p))
	}
	reply := ownClients(s, appendInfoReply(nil, parts[0][0], mergeInfo(texts)))
	if wantsProxyInfo(args) {
		reply = withProxyInfo(s, reply, args)
	}
	s.out = append(s.out, reply...)
}

// infoText is the text of an INFO reply: a bulk string, or in RESP3 a
// verbatim string after its "txt:".
func infoText(reply []byte) []byte {
	if len(reply) > 0 && reply[0] == '=' {
		body, _ := resp.BulkValue(append([]byte{'$'}, reply[1:]...))
		if len(body) >= 4 {
			return body[4:]
		}
		return nil
	}
	body, _ := resp.BulkValue(reply)
	return body
}

// appendInfoReply writes text as an INFO reply of kind ('$' or '=').
func appendInfoReply(dst []byte, kind byte, text string) []byte {
	if kind == '=' {
		text = "txt:" + text
	}
	dst = resp.AppendHeader(dst, kind, len(text))
	dst = append(dst, text...)
	return append(dst, '\r', '\n')
}

// infoSection is one "# Name" section of INFO: its fields in order.
type infoSection struct {
	name   string
	keys   []string
	values map[string]string
}

func parseInfo(text string) []*infoSection {
	var sections []*infoSection
	var cur *infoSection
	for _, line := range strings.Split(text, "\r\n") {
		switch {
		case strings.HasPrefix(line, "# "):
			cur = &infoSection{name: strings.ToLower(line[2:]), values: map[string]string{}}
			sections = append(sections, cur)
		case line == "" || cur == nil:
		default:
			k, v, _ := strings.Cut(line, ":")
			if _, seen := cur.values[k]; !seen {
				cur.keys = append(cur.keys, k)
			}
			cur.values[k] = v
		}
	}
	return sections
}

// summedSections hold counts, which add up across masters.
var summedSections = map[string]bool{
	"clients": true, "memory": true, "stats": true, "keyspace": true,
	"commandstats": true, "errorstats": true, "cpu": true, "latencystats": true,
}

// mergeInfo combines the masters' INFO texts, in the first one's layout;
// fields only other masters have (a database, a command) follow.
func mergeInfo(texts []string) string {
	all := make([][]*infoSection, len(texts))
	for i, t := range texts {
		all[i] = parseInfo(t)
	}
	var b strings.Builder
	for si, sec := range all[0] {
		if si > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + sectionTitle(sec.name) + "\r\n")
		keys := append([]string(nil), sec.keys...)
		for _, other := range all[1:] {
			for _, o := range other {
				if o.name != sec.name {
					continue
				}
				for _, k := range o.keys {
					if _, ok := sec.values[k]; !ok && summedSections[sec.name] {
						sec.values[k] = ""
						keys = append(keys, k)
					}
				}
			}
		}
		for _, k := range keys {
			var vals []string
			for _, secs := range all {
				for _, o := range secs {
					if v, ok := o.values[k]; ok && o.name == sec.name && v != "" {
						vals = append(vals, v)
					}
				}
			}
			v := sec.values[k]
			if summedSections[sec.name] && len(vals) > 0 {
				v = mergeInfoValue(sec.name, k, vals)
			}
			b.WriteString(k + ":" + v + "\r\n")
		}
		if summedSections[sec.name] {
			fixHuman(&b)
		}
	}
	return b.String()
}

// sectionTitle is Redis's spelling of a section name.
func sectionTitle(name string) string {
	switch name {
	case "cpu":
		return "CPU"
	case "commandstats":
		return "Commandstats"
	case "errorstats":
		return "Errorstats"
	case "latencystats":
		return "Latencystats"
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// mergeInfoValue combines one field's values: counts add up, peaks and
// limits take the largest, rates add up, and a "a=1,b=2" value combines
// field by field.
func mergeInfoValue(section, key string, vals []string) string {
	if section == "commandstats" && broadcast[strings.TrimPrefix(key, "cmdstat_")] {
		section = "broadcast"
	}
	if strings.Contains(vals[0], "=") {
		return mergeSubfields(section, vals)
	}
	return combine(section, key, vals)
}

// broadcast are the commands redverb sends to every master for one call
// of a client: each master counts the call, one server would count it
// once, so their counts merge as the largest.
var broadcast = map[string]bool{
	"info": true, "dbsize": true, "keys": true, "randomkey": true, "flushall": true, "flushdb": true,
	"config|set": true, "config|resetstat": true, "config|rewrite": true,
	"slowlog|reset": true, "slowlog|get": true, "slowlog|len": true, "latency|reset": true, "latency|histogram": true,
	"script|load": true, "script|flush": true, "script|exists": true, "script|kill": true,
	"function|load": true, "function|delete": true, "function|flush": true, "function|restore": true, "function|kill": true,
}

func combine(section, key string, vals []string) string {
	largest := strings.Contains(key, "max") || strings.Contains(key, "peak") || strings.HasPrefix(key, "latest_") ||
		section == "latencystats" || section == "broadcast" || key == "avg_ttl" || heldByEveryMaster(key)
	if ints, ok := parseAll(vals, func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) }); ok {
		return strconv.FormatInt(fold(ints, largest), 10)
	}
	floats, ok := parseAll(vals, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
	if ok && (largest || strings.HasPrefix(key, "instantaneous_") || section == "cpu") {
		decimals := 0
		if i := strings.IndexByte(vals[0], '.'); i >= 0 {
			decimals = len(vals[0]) - i - 1
		}
		return strconv.FormatFloat(fold(floats, largest), 'f', decimals, 64)
	}
	return vals[0]
}

// heldByEveryMaster reports whether an INFO field counts what SCRIPT LOAD
// and FUNCTION LOAD through redverb put on every master (scripts,
// functions, their memory): one server holds one copy.
func heldByEveryMaster(key string) bool {
	for _, part := range []string{"script", "function", "librar", "_lua", "_vm_"} {
		if strings.Contains(key, part) {
			return true
		}
	}
	return false
}

// fold adds values up, or takes the largest.
func fold[T int64 | float64](vals []T, largest bool) T {
	total := vals[0]
	for _, v := range vals[1:] {
		if largest {
			total = max(total, v)
		} else {
			total += v
		}
	}
	return total
}

// parseAll parses every value, or reports that one is not a number.
func parseAll[T any](vals []string, parse func(string) (T, error)) ([]T, bool) {
	out := make([]T, len(vals))
	for i, v := range vals {
		n, err := parse(v)
		if err != nil {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// mergeSubfields combines values such as "keys=1,expires=0,avg_ttl=0" or
// "calls=3,usec=9,usec_per_call=3.00,...": each subfield as a field, and
// usec_per_call computed again from the sums.
func mergeSubfields(section string, vals []string) string {
	var names []string
	byName := map[string][]string{}
	for _, v := range vals {
		for _, f := range strings.Split(v, ",") {
			k, x, _ := strings.Cut(f, "=")
			if _, ok := byName[k]; !ok {
				names = append(names, k)
			}
			byName[k] = append(byName[k], x)
		}
	}
	merged := map[string]string{}
	for _, k := range names {
		merged[k] = combine(section, k, byName[k])
	}
	if _, ok := merged["usec_per_call"]; ok {
		calls, _ := strconv.ParseFloat(merged["calls"], 64)
		usec, _ := strconv.ParseFloat(merged["usec"], 64)
		per := 0.0
		if calls > 0 {
			per = usec / calls
		}
		merged["usec_per_call"] = fmt.Sprintf("%.2f", per)
	}
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + merged[k]
	}
	return strings.Join(parts, ",")
}

// fixHuman rewrites the "_human" fields of the section just written from
// the byte counts beside them, as Redis's bytesToHuman prints them.
func fixHuman(b *strings.Builder) {
	text := b.String()
	start := strings.LastIndex(text, "# ")
	lines := strings.Split(text[start:], "\r\n")
	counts := map[string]string{}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ":"); ok {
			counts[k] = v
		}
	}
	for i, l := range lines {
		k, _, ok := strings.Cut(l, ":")
		if !ok || !strings.HasSuffix(k, "_human") {
			continue
		}
		if n, err := strconv.ParseInt(counts[strings.TrimSuffix(k, "_human")], 10, 64); err == nil {
			lines[i] = k + ":" + bytesToHuman(n)
		}
	}
	b.Reset()
	b.WriteString(text[:start] + strings.Join(lines, "\r\n"))
}

// bytesToHuman is Redis's: B, then K, M, G, T, P with two decimals.
func bytesToHuman(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	for _, unit := range []string{"K", "M", "G", "T"} {
		if f /= 1024; f < 1024 {
			return fmt.Sprintf("%.2f%s", f, unit)
		}
	}
	return fmt.Sprintf("%.2fP", f/1024)
}

// clusterLatencyHistogram answers LATENCY HISTOGRAM [command ...] from
// every master, as one server that ran all their commands: per command,
// calls added up and each cumulative histogram bucket added up.
func clusterLatencyHistogram(s *Session, args [][]byte) {
	parts := onMasters(s, args)
	if answeredError(s, parts) {
		return
	}
	type histogram struct {
		calls   int
		buckets map[int]int // upper bound in usec -> cumulative count
	}
	var names []string
	merged := map[string]*histogram{}
	perMaster := make([]map[string]map[int]int, len(parts))
	for m, p := range parts {
		perMaster[m] = map[string]map[int]int{}
		entries := resp.SplitArray(mapAsArray(p))
		for i := 0; i+1 < len(entries); i += 2 {
			name := string(resp.Text(entries[i]))
			h := merged[name]
			if h == nil {
				h = &histogram{buckets: map[int]int{}}
				merged[name] = h
				names = append(names, name)
			}
			fields := resp.SplitArray(mapAsArray(entries[i+1]))
			own := map[int]int{}
			for j := 0; j+1 < len(fields); j += 2 {
				switch string(resp.Text(fields[j])) {
				case "calls":
					if n := resp.Int(fields[j+1]); broadcast[name] {
						h.calls = max(h.calls, n)
					} else {
						h.calls += n
					}
				case "histogram_usec":
					b := resp.SplitArray(mapAsArray(fields[j+1]))
					for k := 0; k+1 < len(b); k += 2 {
						own[resp.Int(b[k])] = resp.Int(b[k+1])
						h.buckets[resp.Int(b[k])] = 0
					}
				}
			}
			perMaster[m][name] = own
		}
	}
	s.out = s.proto.appendMapHeader(s.out, len(names))
	for _, name := range names {
		h := merged[name]
		bounds := slices.Sorted(maps.Keys(h.buckets))
		s.out = resp.AppendBulk(s.out, name)
		s.out = s.proto.appendMapHeader(s.out, 2)
		s.out = resp.AppendBulk(s.out, "calls")
		s.out = resp.AppendHeader(s.out, ':', h.calls)
		s.out = resp.AppendBulk(s.out, "histogram_usec")
		s.out = s.proto.appendMapHeader(s.out, len(bounds))
		for _, bound := range bounds {
			total := 0
			for _, pm := range perMaster {
				// a master's count at bound is its count at the largest
				// bucket it lists at or below bound (cumulative)
				best, at := 0, -1
				for b, n := range pm[name] {
					if b <= bound && b > at {
						best, at = n, b
					}
				}
				if broadcast[name] {
					total = max(total, best)
				} else {
					total += best
				}
			}
			s.out = resp.AppendHeader(s.out, ':', bound)
			s.out = resp.AppendHeader(s.out, ':', total)
		}
	}
}
