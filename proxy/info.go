package proxy

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redverb/redverb/cache"
	"github.com/redverb/redverb/internal/resp"
)

// INFO through redverb is the backend's reply plus redverb's sections,
// "# Proxy" and "# Cache" (when the sections asked for include them: none,
// default, all, everything, or the section's name). The backend answers
// an unknown section with nothing, so INFO proxy alone is just redverb's
// section.

// proxySections are redverb's INFO sections that args ask for.
type proxySections struct{ proxy, cache bool }

func sectionsOf(args [][]byte) proxySections {
	if len(args) == 1 {
		return proxySections{true, true}
	}
	var ps proxySections
	for _, a := range args[1:] {
		switch strings.ToLower(string(a)) {
		case "default", "all", "everything":
			return proxySections{true, true}
		case "proxy":
			ps.proxy = true
		case "cache":
			ps.cache = true
		}
	}
	return ps
}

// wantsProxyInfo reports whether INFO args ask for one of redverb's
// sections.
func wantsProxyInfo(args [][]byte) bool {
	ps := sectionsOf(args)
	return ps.proxy || ps.cache
}

// withProxyInfo returns the backend's INFO reply with redverb's sections
// that args ask for added; an error reply is returned as it is.
func withProxyInfo(s *Session, reply []byte, args [][]byte) []byte {
	if len(reply) == 0 || (reply[0] != '$' && reply[0] != '=') {
		return reply
	}
	header := bytes.IndexByte(reply, '\n') + 1
	body := reply[header : len(reply)-2]
	prefix := []byte(nil)
	if reply[0] == '=' { // RESP3 verbatim string: "txt:" then the text
		prefix, body = body[:4], body[4:]
	}
	var text []byte
	text = append(text, prefix...)
	text = append(text, body...)
	if len(body) > 0 {
		text = append(text, "\r\n"...)
	}
	ps := sectionsOf(args)
	if ps.proxy {
		text = append(text, proxyInfo(s)...)
	}
	if ps.cache {
		if ps.proxy {
			text = append(text, "\r\n"...)
		}
		text = append(text, cacheInfo(s.srv.Cache)...)
	}
	out := resp.AppendHeader(nil, reply[0], len(text))
	out = append(out, text...)
	return append(out, '\r', '\n')
}

// Version is redverb's version, which INFO reports; set at start-up.
var Version = "dev"

// proxyInfo is the "# Proxy" section.
func proxyInfo(s *Session) []byte {
	srv, b := s.srv, s.srv.Backend
	cc, conns := srv.Clients(), b.Stats()
	total := int64(0)
	for _, c := range counters.Commands() {
		total += c.Calls.Load()
	}
	state := "up"
	if err := b.Ping(500 * time.Millisecond); err != nil {
		state = "down"
	}
	kind := b.Kind()
	lines := []string{
		"# Proxy",
		"redverb_version:" + Version,
		"uptime_in_seconds:" + strconv.Itoa(int(time.Since(counters.Started).Seconds())),
		"connected_clients:" + strconv.Itoa(cc.Connected),
		"blocked_clients:" + strconv.Itoa(cc.Blocked),
		"pubsub_clients:" + strconv.Itoa(cc.Subscribers),
		"total_commands_processed:" + strconv.FormatInt(total, 10),
		"verb_calls:" + strconv.FormatInt(counters.VerbCalls.Load(), 10),
		"script_reloads:" + strconv.FormatInt(counters.ScriptReloads.Load(), 10),
		"backend:" + b.Addr(),
		"backend_kind:" + kind,
		"backend_state:" + state,
		fmt.Sprintf("backend_connections:shared=%d,pooled=%d,open=%d", conns.Shared, conns.Idle, conns.Open),
	}
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// cacheInfo is the "# Cache" section.
func cacheInfo(c *cache.Cache) []byte {
	if c == nil {
		return []byte("# Cache\r\ncache_enabled:0\r\n")
	}
	st := c.Stats()
	ratio := 0.0
	if st.Hits+st.Misses > 0 {
		ratio = float64(st.Hits) / float64(st.Hits+st.Misses)
	}
	live := 0
	if st.Live {
		live = 1
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	lines := []string{
		"# Cache",
		"cache_enabled:1",
		"cache_live:" + strconv.Itoa(live),
		"cache_entries:" + strconv.Itoa(st.Entries),
		"cache_used_memory:" + strconv.FormatInt(st.Bytes, 10),
		"cache_max_memory:" + strconv.FormatInt(st.MaxMemory, 10),
		"cache_hits:" + u(st.Hits),
		"cache_misses:" + u(st.Misses),
		"cache_hit_ratio:" + strconv.FormatFloat(ratio, 'f', 4, 64),
		"cache_stored:" + u(st.Stored),
		"cache_refused:" + u(st.Refused),
		"cache_evictions:" + u(st.Evictions),
		"cache_expirations:" + u(st.Expirations),
		"cache_invalidations:" + u(st.Invalidations),
		"cache_flushes:" + u(st.Flushes),
		"cache_prefixes:" + strings.Join(c.Prefixes(), ","),
	}
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// finishInfo completes reply i of the batch just sent, INFO with args:
// redverb's own clients as connected_clients, and the proxy section if
// asked for.
func finishInfo(s *Session, i int, args [][]byte) {
	req := &s.req
	start, end := req.Start(i), req.Ends[i]
	backend := bytes.Clone(s.out[start:end])
	if resp.IsError(backend) && len(args) == 2 && (strings.EqualFold(string(args[1]), "proxy") || strings.EqualFold(string(args[1]), "cache")) {
		// INFO proxy alone: a backend that refuses the unknown section
		// (not Redis, which answers it with nothing) still gets redverb's.
		backend = []byte("$0\r\n\r\n")
	}
	reply := ownClients(s, backend)
	if wantsProxyInfo(args) {
		reply = withProxyInfo(s, reply, args)
	}
	rest := bytes.Clone(s.out[end:])
	s.out = append(append(s.out[:start], reply...), rest...)
	grow := len(reply) - (end - start)
	for j := i; j < len(req.Ends); j++ {
		req.Ends[j] += grow
	}
}

// ownClients rewrites connected_clients in an INFO reply as the clients of
// redverb, which its clients count with CLIENT LIST (the backend's figure
// counts redverb's connections; INFO proxy shows those).
func ownClients(s *Session, reply []byte) []byte {
	const field = "\r\nconnected_clients:"
	if len(reply) == 0 || (reply[0] != '$' && reply[0] != '=') || !bytes.Contains(reply, []byte(field)) {
		return reply
	}
	text := string(infoText(reply))
	i := strings.Index(text, field)
	if i < 0 {
		return reply
	}
	i += len(field)
	j := strings.IndexByte(text[i:], '\r')
	if j < 0 {
		return reply
	}
	text = text[:i] + strconv.Itoa(s.srv.Clients().Connected) + text[i+j:]
	return appendInfoReply(nil, reply[0], text)
}
