package proxy

import (
	"strconv"
	"strings"
	"time"

	"github.com/redverb/redverb/internal/resp"
	"github.com/redverb/redverb/internal/topk"
)

// Hot keys are always counted, cheaply: one command in hotSample per
// client goes into a Space-Saving sketch of hotCapacity keys (package
// topk), whose rates fade with hotHalfLife. REDVERB HOTKEYS reads it.
const (
	hotSample   = 8
	hotCapacity = 1024
	hotHalfLife = 10 * time.Second
)

// hotKeys returns the server's sketch, made on first use.
func (srv *Server) hotKeys() *topk.Sketch {
	srv.hotOnce.Do(func() { srv.hot = topk.New(hotCapacity, hotHalfLife) })
	return srv.hot
}

// noteCommand counts one command in hotSample by its first key. A read
// the cache may answer is counted when it is looked up, with the outcome.
func (s *Session) noteCommand(c *command, now time.Time) {
	if s.hotTick++; s.hotTick%hotSample != 0 {
		return
	}
	if s.srv.Cache != nil && c.spec.flags&cachedRead != 0 {
		c.sampled = true
		return
	}
	if i := c.spec.keys.FirstKey(c.args); i > 0 {
		s.srv.hotKeys().Add(c.args[i], now)
	}
}

// noteLookup counts a sampled read's cache lookup of key.
func (s *Session) noteLookup(c *command, key []byte, hit bool, now time.Time) {
	if !c.sampled {
		return
	}
	o := topk.Miss
	if hit {
		o = topk.Hit
	}
	s.srv.hotKeys().AddOutcome(key, now, o)
}

// cmdHotkeys answers REDVERB HOTKEYS [COUNT n]: the most requested keys,
// each as [key, requests per second, the rate's possible over-estimate,
// cache hit ratio or null when the key's requests did not use the cache].
func cmdHotkeys(s *Session, args [][]byte) {
	count := 10
	switch {
	case len(args) == 4 && strings.EqualFold(string(args[2]), "count"):
		n, err := strconv.Atoi(string(args[3]))
		if err != nil || n <= 0 {
			s.out = resp.AppendError(s.out, "ERR value is out of range, must be positive")
			return
		}
		count = min(n, hotCapacity)
	case len(args) != 2:
		s.out = resp.AppendError(s.out, "ERR syntax error")
		return
	}
	top := s.srv.hotKeys().Top(count, time.Now())
	s.out = resp.AppendHeader(s.out, '*', len(top))
	for _, e := range top {
		s.out = resp.AppendHeader(s.out, '*', 4)
		s.out = resp.AppendBulk(s.out, e.Key)
		s.out = resp.AppendBulk(s.out, strconv.FormatFloat(e.Rate*hotSample, 'f', 1, 64))
		s.out = resp.AppendBulk(s.out, strconv.FormatFloat(e.Error*hotSample, 'f', 1, 64))
		if e.HitRatio < 0 {
			s.out = s.proto.appendNull(s.out)
			continue
		}
		s.out = resp.AppendBulk(s.out, strconv.FormatFloat(e.HitRatio, 'f', 3, 64))
	}
}
