package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseBackendURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want BackendURL // TLSConfig compared as set or not
		tls  bool
		err  string
	}{
		{url: "redis://127.0.0.1:6379/2", want: BackendURL{Scheme: "redis", Addrs: []string{"127.0.0.1:6379"}, DB: 2}},
		{url: "rediss://u:p@h:1", want: BackendURL{Scheme: "rediss", Addrs: []string{"h:1"}, Username: "u", Password: "p"}, tls: true},
		{url: "redis-cluster://h1:7000,h2:7001", want: BackendURL{Scheme: "redis-cluster", Kind: KindCluster, Addrs: []string{"h1:7000", "h2:7001"}}},
		{url: "rediss-cluster://:secret@h1:7000", want: BackendURL{Scheme: "rediss-cluster", Kind: KindCluster, Addrs: []string{"h1:7000"}, Password: "secret"}, tls: true},
		{url: "redis-sentinel://s1:26379,s2:26379/mymaster?db=3",
			want: BackendURL{Scheme: "redis-sentinel", Kind: KindSentinel, Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", DB: 3}},
		{url: "rediss-sentinel://user:p%40ss@s1:26379/m?sentinel_password=sp",
			want: BackendURL{Scheme: "rediss-sentinel", Kind: KindSentinel, Addrs: []string{"s1:26379"}, MasterName: "m", Username: "user", Password: "p@ss", SentinelPassword: "sp"}, tls: true},
		{url: "127.0.0.1:6379", err: "missing scheme"},
		{url: "memcached://h:1", err: "unknown scheme"},
		{url: "redis-cluster://h1", err: `"h1" is not host:port`},
		{url: "redis-cluster://h1:1,", err: `"" is not host:port`},
		{url: "redis-cluster://h1:1/2", err: "only database 0"},
		{url: "redis-sentinel://s1:26379", err: "missing the master name"},
		{url: "redis-sentinel://s1:26379/m?db=x", err: "not a non-negative integer"},
		{url: "redis-cluster://h1:1?db=1", err: `unknown option "db"`},
		{url: "redis-sentinel://s1:1/m?timeout=1", err: `unknown option "timeout"`},
	} {
		got, err := ParseBackendURL(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if (got.TLSConfig != nil) != tc.tls {
			t.Errorf("%s: TLS %v, want %v", tc.url, got.TLSConfig != nil, tc.tls)
		}
		got.TLSConfig = nil
		if strings.Join(got.Addrs, ",") != strings.Join(tc.want.Addrs, ",") {
			t.Errorf("%s: addrs %v, want %v", tc.url, got.Addrs, tc.want.Addrs)
		}
		got.Addrs, tc.want.Addrs = nil, nil
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.url, got, tc.want)
		}
	}
}
