package config

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "redverb.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: "127.0.0.1:6380", ProtectedMode: "yes", LogLevel: "info", LogFormat: "console",
		ShutdownTimeout: 10 * time.Second, BackendConns: 1, ClientOutputBufferLimit: "0", PubSubOutputBufferLimit: "32mb",
		MaxClients: 10000, ClientQueryBufferLimit: "1gb", TLSAuthClients: "yes", Auth: "backend", CacheMaxMemory: "64mb"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	// With a password of its own, redverb checks AUTH itself.
	if c, err = Load([]string{"--requirepass", "x"}, env(nil), io.Discard); err != nil || c.Auth != "proxy" {
		t.Fatalf("with requirepass: auth %q, %v", c.Auth, err)
	}
}

func TestPrecedenceFlagOverEnvOverFile(t *testing.T) {
	file := writeFile(t, "listen: 127.0.0.1:1111\nbackend: redis://file:1\nrequirepass: fromfile\nlog-level: debug\n")
	c, err := Load(
		[]string{"--config", file, "--listen", "127.0.0.1:3333"},
		env(map[string]string{"REDVERB_LISTEN": "127.0.0.1:2222", "REDVERB_BACKEND": "redis://env:2"}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3333" || c.Backend != "redis://env:2" || c.RequirePass != "fromfile" || c.LogLevel != "debug" {
		t.Fatalf("precedence wrong: %+v", c)
	}
	// The file can come from the environment too.
	c, err = Load(nil, env(map[string]string{"REDVERB_CONFIG": file}), io.Discard)
	if err != nil || c.Backend != "redis://file:1" {
		t.Fatalf("REDVERB_CONFIG: %+v, %v", c, err)
	}
}

func TestBadSettingsNameTheSetting(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		file string
		want string
	}{
		{args: []string{"--listen", "nonsense"}, want: "listen"},
		{args: []string{"--backend", "http://x:1"}, want: "backend"},
		{args: []string{"--backend", "redis://x:1/notanumber"}, want: "backend"},
		{args: []string{"--log-level", "loud"}, want: "log-level"},
		{args: []string{"--log-format", "xml"}, want: "log-format"},
		{args: []string{"--protected-mode", "maybe"}, want: "protected-mode"},
		{args: []string{"--shutdown-timeout", "soon"}, want: "shutdown-timeout"},
		{args: []string{"--backend-conns", "999"}, want: "backend-conns"},
		{args: []string{"--verbs-dir", "/does/not/exist"}, want: "verbs-dir"},
		{args: []string{"--read-from", "anywhere"}, want: "read-from"},
		{args: []string{"--auth", "ldap"}, want: "auth"},
		{args: []string{"--auth", "backend", "--requirepass", "x"}, want: "requirepass"},
		{args: []string{"--tls-port", "6443"}, want: "tls-cert-file and tls-key-file are required"},
		{args: []string{"--tls-port", "6443", "--tls-cert-file", "c", "--tls-key-file", "k"}, want: "needs tls-ca-cert-file"},
		{args: []string{"--tls-auth-clients", "sometimes"}, want: "tls-auth-clients"},
		{args: []string{"--listen", "127.0.0.1:0"}, want: "tls-port is needed"},
		{args: []string{"--backend", "redis://h:1", "--backend-tls-ca-cert-file", "ca"}, want: "need a rediss backend"},
		{args: []string{"--backend", "rediss://h:1", "--backend-tls-cert-file", "c"}, want: "backend-tls-key-file"},
		{args: []string{"--backend", "rediss://h:1", "--backend-tls-insecure-skip-verify", "maybe"}, want: "backend-tls-insecure-skip-verify"},
		{args: []string{"--metrics-listen", "nonsense"}, want: "metrics-listen"},
		{args: []string{"--maxclients", "-1"}, want: "maxclients"},
		{args: []string{"--timeout", "-5"}, want: "timeout"},
		{args: []string{"--timeout", "soon"}, want: "timeout"},
		{args: []string{"--client-query-buffer-limit", "64k"}, want: "client-query-buffer-limit"},
		{args: []string{"--backend", "redis-sentinel://s:1"}, want: "master name"},
		{env: map[string]string{"REDVERB_BACKEND_CONNS": "x"}, want: "REDVERB_BACKEND_CONNS"},
		{file: "listen: 127.0.0.1:1\nunknown-key: 1\n", want: "unknown-key"},
		{args: []string{"--config", "/does/not/exist.yaml"}, want: "config"},
		{args: []string{"--no-such-flag"}, want: "no-such-flag"},
		{args: []string{"stray"}, want: "stray"},
		{args: []string{"--cache=maybe"}, want: "cache"},
		{args: []string{"--cache-max-memory", "10k"}, want: "cache-max-memory"},
		{args: []string{"--cache-ttl", "-1s"}, want: "cache-ttl"},
		{args: []string{"--cache-prefix", ""}, want: "cache-prefix"},
		{args: []string{"--cache", "--read-from", "replicas"}, want: "cannot cache reads from replicas"},
	}
	for _, tc := range cases {
		args := tc.args
		if tc.file != "" {
			args = append(args, "--config", writeFile(t, tc.file))
		}
		_, err := Load(args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v %q: error %v, want one naming %q", tc.args, tc.env, tc.file, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
}

func TestHelpListsEverySettingWithItsEnvironmentVariable(t *testing.T) {
	var out strings.Builder
	_, err := Load([]string{"--help"}, env(nil), &out)
	if err != ErrHelp {
		t.Fatalf("err = %v", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), "-"+s.name) || !strings.Contains(out.String(), EnvName(s.name)) {
			t.Errorf("--help does not document %s / %s", s.name, EnvName(s.name))
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "100": 100, "1k": 1000, "1kb": 1024, "256mb": 256 << 20, "2G": 2e9, "3gb": 3 << 30, "7b": 7} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "mb", "1tb", "1.5mb", "99999999999gb"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
	if _, err := Load([]string{"--client-output-buffer-limit", "lots"}, env(nil), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "client-output-buffer-limit") {
		t.Errorf("bad limit: %v", err)
	}
	c, _ := Load([]string{"--client-output-buffer-limit", "0", "--pubsub-output-buffer-limit", "1kb"}, env(nil), io.Discard)
	if client, pubsub := c.OutputLimits(); client != -1 || pubsub != 1024 {
		t.Errorf("OutputLimits() = %d, %d", client, pubsub)
	}
}

func TestCacheSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		file string
		want Config
	}{
		{name: "flag alone", args: []string{"--cache"}, want: Config{Cache: true, CacheMaxMemory: "64mb"}},
		{name: "flags", args: []string{"--cache=yes", "--cache-prefix", "user:", "--cache-prefix", "cfg:", "--cache-max-memory", "1gb", "--cache-ttl", "30s"},
			want: Config{Cache: true, CachePrefix: []string{"user:", "cfg:"}, CacheMaxMemory: "1gb", CacheTTL: 30 * time.Second}},
		{name: "environment", env: map[string]string{"REDVERB_CACHE": "yes", "REDVERB_CACHE_PREFIX": "a:,b:"},
			want: Config{Cache: true, CachePrefix: []string{"a:", "b:"}, CacheMaxMemory: "64mb"}},
		{name: "file", file: "cache: true\ncache-prefix: [x:, y:]\ncache-max-memory: 2mb\ncache-ttl: 1m\n",
			want: Config{Cache: true, CachePrefix: []string{"x:", "y:"}, CacheMaxMemory: "2mb", CacheTTL: time.Minute}},
		{name: "flag replaces the file's prefixes", file: "cache: true\ncache-prefix: [x:]\n", args: []string{"--cache-prefix", "z:"},
			want: Config{Cache: true, CachePrefix: []string{"z:"}, CacheMaxMemory: "64mb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, tc.file))
			}
			c, err := Load(args, env(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got := Config{Cache: c.Cache, CachePrefix: c.CachePrefix, CacheMaxMemory: c.CacheMaxMemory, CacheTTL: c.CacheTTL}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
