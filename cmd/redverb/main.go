// Command redverb runs the proxy: it wires configuration, logging, the
// backend and the server together and handles signals.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/redverb/redverb/backend"
	"github.com/redverb/redverb/cache"
	"github.com/redverb/redverb/commands"
	"github.com/redverb/redverb/config"
	"github.com/redverb/redverb/metrics"
	"github.com/redverb/redverb/proxy"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	cfg, err := config.Load(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, config.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "redverb:", err)
		os.Exit(2)
	}
	log, err := newLogger(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "redverb:", err)
		os.Exit(2)
	}
	setProcs()
	proxy.Version = version
	redis.SetLogger(goRedisLog{log.Named("go-redis")})
	if err := run(cfg, log); err != nil {
		log.Error("redverb stopped", zap.Error(err))
		os.Exit(1)
	}
}

// setProcs picks how many cores the Go scheduler uses, unless GOMAXPROCS
// says. redverb's work is mostly socket syscalls handed between
// goroutines; on a machine with one or two cores, a second scheduler thread
// spins waiting for work on the core Redis or the clients need, and one
// thread is faster (bench/run.sh measured it in every row).
func setProcs() int {
	if os.Getenv("GOMAXPROCS") == "" && runtime.NumCPU() <= 2 {
		runtime.GOMAXPROCS(1)
	}
	return runtime.GOMAXPROCS(0)
}

// goRedisLog sends go-redis's own messages (Cluster and Sentinel topology
// changes, such as a new master) to redverb's log.
type goRedisLog struct{ log *zap.Logger }

func (l goRedisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Info(fmt.Sprintf(format, v...))
}

func newLogger(cfg config.Config) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	if cfg.LogFormat == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.Development = false
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.DisableStacktrace = true
	return zc.Build()
}

func run(cfg config.Config, log *zap.Logger) error {
	backendURL := cfg.Backend
	if backendURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return fmt.Errorf("embedded backend: %w", err)
		}
		defer mr.Close()
		backendURL = "redis://" + mr.Addr()
		log.Warn("no --backend given: using an EMBEDDED IN-MEMORY DEMO backend (miniredis). " +
			"Data lives in this process only and is lost on exit; set --backend redis://host:port for real use.")
	}
	backendTLS, err := config.BackendTLS(cfg)
	if err != nil {
		return err
	}
	if cfg.BackendTLSInsecureSkipVerify {
		log.Warn("backend-tls-insecure-skip-verify: the backend's certificate is NOT checked; anyone on the path can pose as the backend")
	}
	backend, err := backend.NewBackend(backend.BackendOptions{
		URL:              backendURL,
		SharedConns:      cfg.BackendConns,
		ReadFromReplicas: cfg.ReadFrom == "replicas",
		TLSConfig:        backendTLS,
		AuthClients:      cfg.Auth == "backend",
		Logger:           log,
	})
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	verbs, err := commands.NewRegistry(cfg.VerbsDir)
	if err != nil {
		// Bad files are left out; the built-ins and good files still work.
		log.Error("some verbs were refused", zap.String("verbs-dir", cfg.VerbsDir), zap.Error(err))
	}
	listeners, serverTLS, err := listen(cfg)
	if err != nil {
		return err
	}
	clientLimit, pubsubLimit := cfg.OutputLimits()
	srv := &proxy.Server{
		Backend:           backend,
		ClientOutputLimit: clientLimit,
		SubscriberBacklog: pubsubLimit,
		MaxClients:        cfg.MaxClients,
		Timeout:           time.Duration(cfg.Timeout) * time.Second,
		QueryBufferLimit:  cfg.QueryBufferLimit(),
		RequirePass:       cfg.RequirePass,
		ProtectedMode:     cfg.ProtectedMode == "yes",
		Verbs:             verbs,
		Logger:            log,
	}
	if cfg.Cache {
		srv.Cache = cache.New(cache.Options{MaxMemory: cfg.CacheBytes(), MaxAge: cfg.CacheTTL, Prefixes: cfg.CachePrefix})
		backend.WatchInvalidations(srv.Cache.Prefixes(), srv.Cache)
	}
	addrs := []string{}
	for _, ln := range listeners {
		addrs = append(addrs, ln.Addr().String())
	}
	log.Info("redverb started",
		zap.Strings("listen", addrs),
		zap.String("backend", backend.Addr()),
		zap.String("version", version),
		zap.Bool("requirepass", cfg.RequirePass != ""),
		zap.Int("verbs", len(verbs.Verbs())),
		zap.Bool("cache", cfg.Cache),
		zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)))

	served := make(chan error, len(listeners))
	for _, ln := range listeners {
		go func() { served <- srv.Serve(ln) }()
	}
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics-listen: %w", err)
		}
		hs := &http.Server{Handler: metrics.Handler(srv, backend), ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(mln)
		defer hs.Close()
		log.Info("serving metrics", zap.String("metrics-listen", mln.Addr().String()))
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for stop := false; !stop; {
		select {
		case err := <-served:
			return err
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				if err := srv.ReloadVerbs(); err != nil {
					log.Error("verbs reload refused; the previous verbs stay in force", zap.Error(err))
				} else {
					log.Info("verbs reloaded", zap.Int("verbs", len(verbs.Verbs())))
				}
				if serverTLS != nil {
					if err := serverTLS.Reload(); err != nil {
						log.Error("TLS files reload refused; the previous certificate stays in force", zap.Error(err))
					} else {
						log.Info("TLS certificate and CA reloaded")
					}
				}
				continue
			}
			log.Info("shutting down", zap.String("signal", sig.String()), zap.Duration("timeout", cfg.ShutdownTimeout))
			stop = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown timed out; remaining clients were disconnected")
	}
	log.Info("redverb stopped")
	return nil
}

// listen opens the plain listener (unless its port is 0, as Redis's port 0)
// and, with tls-port, the TLS one on the same host.
func listen(cfg config.Config) ([]net.Listener, *config.ServerTLS, error) {
	host, port, _ := net.SplitHostPort(cfg.Listen)
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	if port != "0" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, nil, err
		}
		lns = append(lns, ln)
	}
	if cfg.TLSPort == 0 {
		return lns, nil, nil
	}
	st, err := config.NewServerTLS(cfg)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(cfg.TLSPort)))
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("tls-port: %w", err)
	}
	return append(lns, tls.NewListener(ln, st.Config())), st, nil
}
