package backend

import (
	"github.com/redis/go-redis/v9"

	"github.com/redverb/redverb/config"
)

// kinds are the kinds of backend, by the kind of the URL: what each means
// to the rest of redverb (its capabilities) and its topology, which says
// which server serves a slot. Adding a kind is its URL form in config and a
// row here (and a topology of its own in topology.go if none fits).
var kinds = map[config.BackendKind]struct {
	caps     func(BackendOptions) capabilities
	topology func(*Backend, config.BackendURL) topology
}{
	config.KindStandalone: {
		caps:     func(BackendOptions) capabilities { return capabilities{kind: "standalone"} },
		topology: func(_ *Backend, u config.BackendURL) topology { return standalone{addr: u.Addrs[0]} },
	},
	config.KindCluster: {
		caps: func(BackendOptions) capabilities {
			return capabilities{kind: "cluster", severalServers: true, redirects: true, routesByKey: true}
		},
		topology: func(b *Backend, u config.BackendURL) topology {
			return newSlotMap(redis.NewClusterClient(&redis.ClusterOptions{
				Addrs:           u.Addrs,
				Username:        u.Username,
				Password:        u.Password,
				TLSConfig:       u.TLSConfig,
				DialTimeout:     b.opts.DialTimeout,
				ReadOnly:        b.opts.ReadFromReplicas,
				DisableIdentity: true,
				Dialer:          b.topologyDialer(u.TLSConfig, b.opts.DialTimeout),
			}))
		},
	},
	config.KindSentinel: {
		caps: func(opts BackendOptions) capabilities {
			return capabilities{kind: "sentinel", redirects: true, routesByKey: opts.ReadFromReplicas}
		},
		topology: func(b *Backend, u config.BackendURL) topology {
			return newSlotMap(redis.NewFailoverClusterClient(&redis.FailoverOptions{
				MasterName:       u.MasterName,
				SentinelAddrs:    u.Addrs,
				SentinelUsername: u.SentinelUsername,
				SentinelPassword: u.SentinelPassword,
				Username:         u.Username,
				Password:         u.Password,
				DB:               u.DB,
				TLSConfig:        u.TLSConfig,
				DialTimeout:      b.opts.DialTimeout,
				ReplicaOnly:      b.opts.ReadFromReplicas,
				DisableIdentity:  true,
			}))
		},
	},
}
