package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// BackendKind is the shape of the backend a URL names.
type BackendKind int

const (
	KindStandalone BackendKind = iota // one server
	KindCluster                       // Redis Cluster, given by seed nodes
	KindSentinel                      // a master that Sentinels watch
)

// BackendURL is a parsed backend URL.
type BackendURL struct {
	Scheme     string
	Kind       BackendKind
	Addrs      []string // the server, the cluster's seed nodes, or the sentinels
	MasterName string   // Sentinel only
	DB         int
	Username   string
	Password   string
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// themselves (query parameters sentinel_username, sentinel_password).
	SentinelUsername string
	SentinelPassword string
	TLSConfig        *tls.Config
}

// ParseBackendURL reads one of:
//
//	redis://[user:pass@]host:port[/db]                           one server
//	redis-cluster://[user:pass@]host:port[,host:port...]         Redis Cluster seed nodes
//	redis-sentinel://[user:pass@]host:port[,host:port...]/master[?db=N]
//
// with rediss, rediss-cluster and rediss-sentinel for TLS. user:pass are
// the data servers' credentials.
func ParseBackendURL(raw string) (BackendURL, error) {
	var u BackendURL
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return u, fmt.Errorf("backend %q: missing scheme (redis://, redis-cluster://, redis-sentinel://)", raw)
	}
	u.Scheme = scheme
	tlsOn := false
	switch scheme {
	case "redis", "rediss":
		ro, err := redis.ParseURL(raw)
		if err != nil {
			return u, err
		}
		u.Addrs, u.DB, u.Username, u.Password, u.TLSConfig = []string{ro.Addr}, ro.DB, ro.Username, ro.Password, ro.TLSConfig
		return u, nil
	case "redis-cluster", "rediss-cluster":
		u.Kind = KindCluster
	case "redis-sentinel", "rediss-sentinel":
		u.Kind = KindSentinel
	default:
		return u, fmt.Errorf("backend %q: unknown scheme %q (redis, rediss, redis-cluster, rediss-cluster, redis-sentinel, rediss-sentinel)", raw, scheme)
	}
	tlsOn = strings.HasPrefix(scheme, "rediss")
	rest, query, _ := strings.Cut(rest, "?")
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		info := rest[:at]
		rest = rest[at+1:]
		user, pass, hasPass := strings.Cut(info, ":")
		var err error
		if u.Username, err = url.PathUnescape(user); err == nil && hasPass {
			u.Password, err = url.PathUnescape(pass)
		}
		if err != nil {
			return u, fmt.Errorf("backend %q: bad credentials: %v", raw, err)
		}
	}
	hosts, path, _ := strings.Cut(rest, "/")
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return u, fmt.Errorf("backend %q: %q is not host:port", raw, h)
		}
		u.Addrs = append(u.Addrs, h)
	}
	switch {
	case u.Kind == KindSentinel && path == "":
		return u, fmt.Errorf("backend %q: missing the master name (redis-sentinel://host:port/mymaster)", raw)
	case u.Kind == KindSentinel:
		u.MasterName = path
	case path != "":
		return u, fmt.Errorf("backend %q: a cluster has only database 0; remove %q", raw, "/"+path)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return u, fmt.Errorf("backend %q: %v", raw, err)
	}
	for k, v := range q {
		switch {
		case k == "db" && u.Kind == KindSentinel:
			if u.DB, err = strconv.Atoi(v[0]); err != nil || u.DB < 0 {
				return u, fmt.Errorf("backend %q: db=%q is not a non-negative integer", raw, v[0])
			}
		case k == "sentinel_username" && u.Kind == KindSentinel:
			u.SentinelUsername = v[0]
		case k == "sentinel_password" && u.Kind == KindSentinel:
			u.SentinelPassword = v[0]
		default:
			return u, fmt.Errorf("backend %q: unknown option %q", raw, k)
		}
	}
	if tlsOn {
		// No ServerName: each connection verifies the certificate against
		// the host it dials, which differs from node to node.
		u.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return u, nil
}
