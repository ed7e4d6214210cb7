// Package proxy serves the Redis protocol to clients and forwards their
// commands to a backend Redis, keeping each client's connection state.
package proxy

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/cache"
	"github.com/redverb/redverb/internal/stats"
	"github.com/redverb/redverb/internal/topk"
	"github.com/redverb/redverb/verb"
	"go.uber.org/zap"
)

// Server accepts client connections. Its zero value is not usable: Backend
// is required; every other field has a working default.
type Server struct {
	Backend *backend.Backend
	// RequirePass, if set, makes clients AUTH before any other command.
	RequirePass string
	// ProtectedMode refuses clients from non-loopback addresses when the
	// server listens on a non-loopback address and has no RequirePass.
	ProtectedMode bool
	// SubscriberBacklog is how many bytes of pub/sub messages (or MONITOR
	// lines) may wait for a slow subscriber before it is disconnected. If
	// zero, 32 MiB; if negative, no limit.
	SubscriberBacklog int
	// ClientOutputLimit is how many bytes of replies the proxy holds for one
	// client that has not read them yet; a client past it is disconnected,
	// as Redis does past its client-output-buffer-limit. Pub/sub and
	// MONITOR clients have SubscriberBacklog instead. If zero or negative,
	// no limit, as Redis has none for normal clients by default.
	ClientOutputLimit int
	// MaxClients is how many clients may be connected at once; one more
	// gets Redis's "-ERR max number of clients reached" and is closed. If
	// zero, 10000.
	MaxClients int
	// Timeout closes clients idle for longer, except those blocked in a
	// command or subscribed, as Redis's timeout does. If zero, never.
	Timeout time.Duration
	// QueryBufferLimit closes a client whose unprocessed input (a command
	// still arriving) passes it, as Redis's client-query-buffer-limit
	// does. If zero, 1 GiB.
	QueryBufferLimit int
	// Verbs are the commands run as scripts on the backend. If nil, none.
	Verbs verb.Set
	// Cache, if set, answers cacheable reads from memory (see cache.go).
	// The backend must pass Redis's invalidations to it
	// (Backend.WatchInvalidations); it is not live until then. If nil, no
	// cache.
	Cache *cache.Cache
	// Logger receives start-up, fault and shutdown events. If nil, none.
	Logger *zap.Logger

	log      *zap.Logger
	hot      *topk.Sketch // the most requested keys (see hotkeys.go)
	hotOnce  sync.Once
	draining atomic.Bool
	table    atomic.Pointer[table] // see commands
	tableMu  sync.Mutex            // held to build it
	nextID   atomic.Uint64
	mu       sync.Mutex
	sessions map[uint64]*Session
	lns      []net.Listener
	wg       sync.WaitGroup
	wake     wakeups
	parker   parker // idle clients without a goroutine (see park_linux.go)
	janitor  sync.Once
	stop     chan struct{} // closed by Shutdown; ends the janitor
}

// counters are this process's (see package stats).
var counters = stats.Process()

// clientOutputLimit is ClientOutputLimit with its default; 0 means none.
func (srv *Server) clientOutputLimit() int { return max(srv.ClientOutputLimit, 0) }

func (srv *Server) subscriberBacklog() int {
	return limitSetting(srv.SubscriberBacklog, 32<<20, math.MaxInt)
}

// limitSetting reads a limit setting: zero is def, negative is none.
func limitSetting(v, def, none int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return none
	}
	return v
}

// Serve accepts connections on ln until Shutdown or a listener error.
func (srv *Server) Serve(ln net.Listener) error {
	srv.mu.Lock()
	if srv.sessions == nil {
		srv.sessions = make(map[uint64]*Session)
	}
	if srv.log == nil {
		srv.log = srv.Logger
		if srv.log == nil {
			srv.log = zap.NewNop()
		}
	}
	srv.lns = append(srv.lns, ln)
	srv.janitor.Do(func() {
		srv.stop = make(chan struct{})
		srv.parker.log = srv.log
		go srv.shedIdleClients(srv.stop)
	})
	srv.wake.b, srv.wake.log = srv.Backend, srv.log
	if srv.Verbs != nil {
		srv.Backend.SetLibraries(srv.Verbs.Libraries)
	}
	srv.mu.Unlock()
	protect := srv.ProtectedMode && srv.RequirePass == "" && !isLoopback(ln.Addr())
	for {
		nc, err := ln.Accept()
		if err != nil {
			if srv.draining.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if protect && !isLoopback(nc.RemoteAddr()) {
			go refuse(nc, protectedModeError)
			continue
		}
		s := newSession(srv, srv.nextID.Add(1), nc)
		srv.mu.Lock()
		if srv.draining.Load() {
			srv.mu.Unlock()
			nc.Close()
			continue
		}
		if len(srv.sessions) >= srv.maxClients() {
			srv.mu.Unlock()
			counters.Count(stats.ErrMaxClients)
			go refuse(nc, "-ERR max number of clients reached\r\n")
			continue
		}
		srv.sessions[s.id] = s
		srv.wg.Add(1)
		srv.mu.Unlock()
		go s.serve()
	}
}

const protectedModeError = "-DENIED redverb is running in protected mode because it listens on a non-loopback address " +
	"and no password is set. In this mode connections are only accepted from the loopback interface. " +
	"To accept clients from other hosts, either 1) set a password with --requirepass (or REDVERB_REQUIREPASS) " +
	"and have clients AUTH, or 2) disable protected mode with --protected-mode no, " +
	"after making sure redverb is not reachable from the internet.\r\n"

// refuse answers a connection the server will not serve, and closes it.
func refuse(nc net.Conn, reply string) {
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write([]byte(reply))
	nc.Close()
}

func (srv *Server) maxClients() int { return limitSetting(srv.MaxClients, 10000, math.MaxInt) }

func (srv *Server) queryBufferLimit() int {
	return limitSetting(srv.QueryBufferLimit, 1<<30, math.MaxInt)
}

func isLoopback(addr net.Addr) bool {
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (srv *Server) forget(s *Session) {
	srv.mu.Lock()
	delete(srv.sessions, s.id)
	srv.mu.Unlock()
	srv.wg.Done()
}

// session returns the client with this id, or nil.
func (srv *Server) session(id uint64) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[id]
}

func (srv *Server) sessionsSnapshot() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	list := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	return list
}

// Shutdown stops accepting, lets every client finish the pipeline it is
// running, then closes. Clients still busy when ctx ends (a BLPOP with no
// timeout, say) are disconnected. The backend is closed last.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.draining.Store(true)
	if srv.stop != nil {
		select {
		case <-srv.stop:
		default:
			close(srv.stop)
		}
	}
	for _, ln := range srv.lns {
		ln.Close()
	}
	// Wake clients waiting for their next command; those running one
	// finish it first, then see the draining flag.
	for _, s := range srv.sessions {
		s.in.conn.SetReadDeadline(time.Now())
	}
	srv.mu.Unlock()
	srv.parker.wakeAll()
	done := make(chan struct{})
	go func() {
		srv.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, s := range srv.sessionsSnapshot() {
			srv.parker.hangUp(s)
		}
	}
	srv.wake.close()
	srv.Backend.Close()
	return err
}

// ClientCounts are the server's clients by state.
type ClientCounts struct {
	Connected   int
	Blocked     int // in a blocking command, or a verb waiting (LOCK ... WAIT)
	Subscribers int // in pub/sub mode or MONITOR
}

// Clients counts the server's clients now.
func (srv *Server) Clients() ClientCounts {
	sessions := srv.sessionsSnapshot()
	cc := ClientCounts{Connected: len(sessions)}
	for _, s := range sessions {
		if s.blocked.busy() {
			cc.Blocked++
		}
		if s.isStreaming() {
			cc.Subscribers++
		}
	}
	return cc
}
