// Package config reads redverb's settings from flags, REDVERB_* environment
// variables and a YAML file, in that order of precedence.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config holds every setting. Its zero value is a working configuration:
// each field documents what zero means.
type Config struct {
	// Listen is the address clients connect to. If empty, 127.0.0.1:6380.
	Listen string `yaml:"listen"`
	// Backend names the Redis behind the proxy (see ParseBackendURL): one
	// server, a Cluster's seed nodes or a Sentinel-managed master. If
	// empty, redverb starts an embedded in-memory backend (demo only).
	Backend string `yaml:"backend"`
	// ReadFrom is "masters" or "replicas": where read-only commands of a
	// Cluster or Sentinel backend go. If empty, masters.
	ReadFrom string `yaml:"read-from"`
	// Auth is where AUTH is checked: "backend" (against the backend's ACL
	// users; each client's commands run as its user, and as the backend
	// URL's user until it authenticates) or "proxy" (against RequirePass;
	// every command runs as the backend URL's user). If empty, backend, or
	// proxy when RequirePass is set: a drop-in for Redis needs no flag.
	Auth string `yaml:"auth"`
	// RequirePass makes clients AUTH with this password. If empty, no AUTH.
	RequirePass string `yaml:"requirepass"`
	// ProtectedMode is "yes" or "no", as in redis.conf. If empty, yes.
	ProtectedMode string `yaml:"protected-mode"`
	// LogLevel is debug, info, warn or error. If empty, info.
	LogLevel string `yaml:"log-level"`
	// LogFormat is json or console. If empty, console.
	LogFormat string `yaml:"log-format"`
	// ShutdownTimeout bounds how long in-flight commands may finish after
	// SIGTERM. If zero, 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown-timeout"`
	// BackendConns is how many shared backend connections carry ordinary
	// commands (per database and protocol). If zero, 1.
	BackendConns int `yaml:"backend-conns"`
	// VerbsDir holds user-defined verbs (*.lua). If empty, only built-ins.
	VerbsDir string `yaml:"verbs-dir"`
	// ClientOutputBufferLimit is how many bytes of replies may wait for one
	// client before it is disconnected, in Redis's units ("256mb", "64k",
	// bytes); "0" is no limit. If empty, no limit, as Redis's default for
	// normal clients.
	ClientOutputBufferLimit string `yaml:"client-output-buffer-limit"`
	// PubSubOutputBufferLimit is the same for pub/sub and MONITOR clients.
	// If empty, 32mb.
	PubSubOutputBufferLimit string `yaml:"pubsub-output-buffer-limit"`
	// TLSPort, if not zero, also accepts TLS clients on this port of the
	// listen host. A listen port of 0 then turns the plain listener off,
	// as Redis's port 0 does.
	TLSPort int `yaml:"tls-port"`
	// TLSCertFile and TLSKeyFile are the TLS listener's certificate and
	// key (PEM). Required with TLSPort; re-read on SIGHUP.
	TLSCertFile string `yaml:"tls-cert-file"`
	TLSKeyFile  string `yaml:"tls-key-file"`
	// TLSCACertFile holds the CAs that client certificates are checked
	// against.
	TLSCACertFile string `yaml:"tls-ca-cert-file"`
	// TLSAuthClients is yes (clients must present a certificate the CA
	// signed), no, or optional (checked if presented). If empty, yes.
	TLSAuthClients string `yaml:"tls-auth-clients"`
	// BackendTLSCACertFile holds the CAs a rediss backend's certificate is
	// checked against. If empty, the system's roots.
	BackendTLSCACertFile string `yaml:"backend-tls-ca-cert-file"`
	// BackendTLSCertFile and BackendTLSKeyFile are the certificate redverb
	// presents to a backend that asks for one (mutual TLS).
	BackendTLSCertFile string `yaml:"backend-tls-cert-file"`
	BackendTLSKeyFile  string `yaml:"backend-tls-key-file"`
	// BackendTLSServerName is the name checked in the backend's
	// certificate. If empty, the host of each address dialled.
	BackendTLSServerName string `yaml:"backend-tls-server-name"`
	// BackendTLSInsecureSkipVerify accepts any backend certificate (logged
	// as a warning at start-up).
	BackendTLSInsecureSkipVerify bool `yaml:"backend-tls-insecure-skip-verify"`
	// MetricsListen is where Prometheus metrics (/metrics) and health
	// checks (/healthz, /readyz) are served over HTTP. If empty, nowhere.
	MetricsListen string `yaml:"metrics-listen"`
	// MaxClients is how many clients may be connected at once; one more
	// gets "-ERR max number of clients reached". If zero, 10000.
	MaxClients int `yaml:"maxclients"`
	// Timeout closes a client idle for this many seconds (not one blocked
	// in a command or subscribed, as in Redis). If zero, never.
	Timeout int `yaml:"timeout"`
	// ClientQueryBufferLimit closes a client whose unprocessed input (one
	// command still arriving) passes it, in Redis's units. If empty, 1gb.
	ClientQueryBufferLimit string `yaml:"client-query-buffer-limit"`
	// Cache keeps the replies of cacheable reads in redverb until Redis
	// announces that their key changed (CLIENT TRACKING). If false, off.
	Cache bool `yaml:"cache"`
	// CachePrefix, if set, limits the cache to keys starting with one of
	// these prefixes. If empty, every key.
	CachePrefix []string `yaml:"cache-prefix"`
	// CacheMaxMemory bounds the bytes the cache holds, in Redis's units.
	// If empty, 64mb.
	CacheMaxMemory string `yaml:"cache-max-memory"`
	// CacheTTL bounds how long an entry is served. If zero, until it is
	// invalidated, evicted, or its key expires.
	CacheTTL time.Duration `yaml:"cache-ttl"`
}

// CacheBytes returns cache-max-memory in bytes. Call it on a validated
// Config.
func (c Config) CacheBytes() int64 {
	n, _ := ParseSize(c.CacheMaxMemory)
	return n
}

// QueryBufferLimit returns client-query-buffer-limit in bytes. Call it on
// a validated Config.
func (c Config) QueryBufferLimit() int {
	n, _ := ParseSize(c.ClientQueryBufferLimit)
	return int(n)
}

// OutputLimits returns the output limits in bytes, -1 meaning none, as
// proxy.Server takes them. Call it on a validated Config.
func (c Config) OutputLimits() (client, pubsub int) {
	bytes := func(v string) int {
		n, _ := ParseSize(v)
		if n == 0 {
			return -1
		}
		return int(n)
	}
	return bytes(c.ClientOutputBufferLimit), bytes(c.PubSubOutputBufferLimit)
}

// ParseSize reads a size as redis.conf writes one: a number of bytes with
// an optional unit, k/m/g (powers of 1000) or kb/mb/gb (powers of 1024),
// in any case.
func ParseSize(v string) (int64, error) {
	lower := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			lower, mult = strings.TrimSuffix(lower, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(lower, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size such as 256mb, 64k or a number of bytes", v)
	}
	return n * mult, nil
}

// Defaults applied by Normalize to empty fields.
const (
	DefaultListen          = "127.0.0.1:6380"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultBackendConns    = 1
	DefaultClientOutput    = "0"
	DefaultPubSubOutput    = "32mb"
	DefaultMaxClients      = 10000
	DefaultQueryBuffer     = "1gb"
	DefaultCacheMaxMemory  = "64mb"
)

// setting describes one option once, for flags, environment and help.
type setting struct {
	name  string
	usage string
	def   string
	set   func(*Config, string) error
}

// form is how a setting is given, when not as one name=value.
type form uint8

const (
	single   form = iota
	boolean       // the flag may be given without a value (--cache)
	repeated      // given several times; its environment variable separates values with commas; set is called for each
)

var forms = map[string]form{"cache": boolean, "cache-prefix": repeated}

var settings = []setting{
	{"listen", "address to accept clients on", DefaultListen, func(c *Config, v string) error { c.Listen = v; return nil }},
	{"backend", "backend URL (default: embedded in-memory demo backend), one of:\n" +
		"  redis://[user:pass@]host:port[/db]                                  one server\n" +
		"  redis-cluster://[user:pass@]host:port[,host:port...]                Redis Cluster seed nodes\n" +
		"  redis-sentinel://[user:pass@]host:port[,host:port...]/master[?db=N] Sentinels and the master's name\n" +
		"  rediss://, rediss-cluster://, rediss-sentinel:// for TLS", "", func(c *Config, v string) error { c.Backend = v; return nil }},
	{"read-from", "masters|replicas: where read-only commands of a Cluster or Sentinel backend go", "masters", func(c *Config, v string) error { c.ReadFrom = v; return nil }},
	{"auth", "backend|proxy: check AUTH against the backend's ACL users and run each client as its user, or against requirepass (default: backend; proxy when requirepass is set)", "", func(c *Config, v string) error { c.Auth = v; return nil }},
	{"requirepass", "password clients must AUTH with", "", func(c *Config, v string) error { c.RequirePass = v; return nil }},
	{"protected-mode", "yes|no: refuse non-loopback clients when listening publicly without a password", "yes", func(c *Config, v string) error { c.ProtectedMode = v; return nil }},
	{"log-level", "debug|info|warn|error", "info", func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{"log-format", "json|console", "console", func(c *Config, v string) error { c.LogFormat = v; return nil }},
	{"shutdown-timeout", "how long in-flight commands may finish on SIGTERM", DefaultShutdownTimeout.String(), func(c *Config, v string) (err error) {
		c.ShutdownTimeout, err = time.ParseDuration(v)
		return err
	}},
	{"backend-conns", "shared backend connections per database and protocol", strconv.Itoa(DefaultBackendConns), func(c *Config, v string) (err error) {
		c.BackendConns, err = strconv.Atoi(v)
		return err
	}},
	{"verbs-dir", "directory of user-defined verbs (*.lua)", "", func(c *Config, v string) error { c.VerbsDir = v; return nil }},
	{"client-output-buffer-limit", "replies that may wait for one client before it is disconnected (0: no limit)", DefaultClientOutput,
		func(c *Config, v string) error { c.ClientOutputBufferLimit = v; return nil }},
	{"pubsub-output-buffer-limit", "the same for pub/sub and MONITOR clients", DefaultPubSubOutput,
		func(c *Config, v string) error { c.PubSubOutputBufferLimit = v; return nil }},
	{"tls-port", "also accept TLS clients on this port of the listen host (0: none)", "0", func(c *Config, v string) (err error) {
		c.TLSPort, err = strconv.Atoi(v)
		return err
	}},
	{"tls-cert-file", "the TLS listener's certificate (PEM), re-read on SIGHUP", "", func(c *Config, v string) error { c.TLSCertFile = v; return nil }},
	{"tls-key-file", "the TLS listener's private key (PEM), re-read on SIGHUP", "", func(c *Config, v string) error { c.TLSKeyFile = v; return nil }},
	{"tls-ca-cert-file", "CAs that client certificates are checked against (PEM)", "", func(c *Config, v string) error { c.TLSCACertFile = v; return nil }},
	{"tls-auth-clients", "yes|no|optional: whether TLS clients must present a certificate", "yes", func(c *Config, v string) error { c.TLSAuthClients = v; return nil }},
	{"backend-tls-ca-cert-file", "CAs a rediss backend's certificate is checked against (default: the system's)", "", func(c *Config, v string) error { c.BackendTLSCACertFile = v; return nil }},
	{"backend-tls-cert-file", "certificate presented to a rediss backend (mutual TLS)", "", func(c *Config, v string) error { c.BackendTLSCertFile = v; return nil }},
	{"backend-tls-key-file", "private key of backend-tls-cert-file", "", func(c *Config, v string) error { c.BackendTLSKeyFile = v; return nil }},
	{"backend-tls-server-name", "name checked in the backend's certificate (default: the host dialled)", "", func(c *Config, v string) error { c.BackendTLSServerName = v; return nil }},
	{"backend-tls-insecure-skip-verify", "yes|no: accept any backend certificate (insecure)", "no", func(c *Config, v string) (err error) {
		c.BackendTLSInsecureSkipVerify, err = yesNo(v)
		return err
	}},
	{"metrics-listen", "address for HTTP /metrics (Prometheus), /healthz and /readyz (default: off)", "", func(c *Config, v string) error { c.MetricsListen = v; return nil }},
	{"maxclients", "clients connected at once; more get -ERR max number of clients reached", strconv.Itoa(DefaultMaxClients), func(c *Config, v string) (err error) {
		c.MaxClients, err = strconv.Atoi(v)
		return err
	}},
	{"timeout", "close clients idle for this many seconds (0: never; blocked and subscribed clients are exempt)", "0", func(c *Config, v string) (err error) {
		c.Timeout, err = strconv.Atoi(v)
		return err
	}},
	{"client-query-buffer-limit", "close a client whose unprocessed input passes this size", DefaultQueryBuffer,
		func(c *Config, v string) error { c.ClientQueryBufferLimit = v; return nil }},
	{name: "cache", usage: "keep cacheable read replies in redverb until Redis invalidates them (CLIENT TRACKING BCAST)", def: "false",
		set: func(c *Config, v string) (err error) {
			c.Cache, err = boolValue(v)
			return err
		}},
	{name: "cache-prefix", usage: "cache only keys with this prefix (repeatable; default: every key)",
		set: func(c *Config, v string) error { c.CachePrefix = append(c.CachePrefix, v); return nil }},
	{name: "cache-max-memory", usage: "bytes the cache may hold", def: DefaultCacheMaxMemory,
		set: func(c *Config, v string) error { c.CacheMaxMemory = v; return nil }},
	{name: "cache-ttl", usage: "longest time an entry is served (0: until invalidated, evicted or its key expires)", def: "0s",
		set: func(c *Config, v string) (err error) {
			c.CacheTTL, err = time.ParseDuration(v)
			return err
		}},
}

// flagValue is a setting's flag: its values in the order given.
type flagValue struct {
	s    *setting
	vals []string
}

func (f *flagValue) String() string {
	if f == nil || f.s == nil {
		return ""
	}
	return f.s.def
}

func (f *flagValue) Set(v string) error {
	if forms[f.s.name] != repeated {
		f.vals = f.vals[:0]
	}
	f.vals = append(f.vals, v)
	return nil
}

func (f *flagValue) IsBoolFlag() bool { return forms[f.s.name] == boolean }

// boolValue reads yes/no or true/false.
func boolValue(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "1":
		return true, nil
	case "no", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", v)
}

// EnvName is the environment variable that carries a setting.
func EnvName(name string) string {
	return "REDVERB_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// ErrHelp is returned by Load when --help was asked for; usage is printed.
var ErrHelp = flag.ErrHelp

// Load builds the configuration from command-line args (without the
// program name), the environment and the file named by --config or
// REDVERB_CONFIG. Flags override the environment, which overrides the file.
// The result is normalized and validated.
func Load(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	fs := flag.NewFlagSet("redverb", flag.ContinueOnError)
	fs.SetOutput(usage)
	values := make(map[string]*flagValue, len(settings))
	for i := range settings {
		s := &settings[i]
		values[s.name] = &flagValue{s: s}
		fs.Var(values[s.name], s.name, fmt.Sprintf("%s (env %s)", s.usage, EnvName(s.name)))
	}
	file := fs.String("config", "", "YAML file with the same settings (env "+EnvName("config")+")")
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: redverb [flags]\n\nredverb is a Redis proxy with atomic verbs. Flags override REDVERB_* environment\nvariables, which override the --config file.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (settings are given as --name value)", fs.Arg(0))
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	var c Config
	path := *file
	if !explicit["config"] {
		path = getenv(EnvName("config"))
	}
	if path != "" {
		if err := c.readFile(path); err != nil {
			return Config{}, err
		}
	}
	for _, s := range settings {
		var source string
		var vals []string
		if explicit[s.name] {
			source, vals = "--"+s.name, values[s.name].vals
		} else if ev, ok := lookup(getenv, EnvName(s.name)); ok {
			source, vals = EnvName(s.name), []string{ev}
			if forms[s.name] == repeated {
				vals = strings.Split(ev, ",")
			}
		} else {
			continue
		}
		if forms[s.name] == repeated {
			c.CachePrefix = nil // the values given here replace the file's
		}
		for _, v := range vals {
			if err := s.set(&c, v); err != nil {
				return Config{}, fmt.Errorf("invalid setting %s=%q: %v", source, v, err)
			}
		}
	}
	c.Normalize()
	return c, c.Validate()
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func (c *Config) readFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("invalid setting --config: %v", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:", "")), " ")
		return fmt.Errorf("invalid setting --config %s: %s", path, msg)
	}
	return nil
}

// Normalize fills empty fields with their defaults.
func (c *Config) Normalize() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.ProtectedMode == "" {
		c.ProtectedMode = "yes"
	}
	if c.Auth == "" {
		c.Auth = "backend"
		if c.RequirePass != "" {
			c.Auth = "proxy"
		}
	}
	if c.TLSAuthClients == "" {
		c.TLSAuthClients = "yes"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.LogFormat == "" {
		c.LogFormat = "console"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.BackendConns == 0 {
		c.BackendConns = DefaultBackendConns
	}
	if c.ClientOutputBufferLimit == "" {
		c.ClientOutputBufferLimit = DefaultClientOutput
	}
	if c.PubSubOutputBufferLimit == "" {
		c.PubSubOutputBufferLimit = DefaultPubSubOutput
	}
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.ClientQueryBufferLimit == "" {
		c.ClientQueryBufferLimit = DefaultQueryBuffer
	}
	if c.CacheMaxMemory == "" {
		c.CacheMaxMemory = DefaultCacheMaxMemory
	}
}

// Validate reports the first bad setting, naming it and the reason.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("invalid setting listen=%q: %v", c.Listen, err)
	}
	if c.Backend != "" {
		if _, err := ParseBackendURL(c.Backend); err != nil {
			return fmt.Errorf("invalid setting backend: %v", err)
		}
	}
	switch {
	case c.Auth != "proxy" && c.Auth != "backend":
		return fmt.Errorf("invalid setting auth=%q: must be proxy or backend", c.Auth)
	case c.Auth == "backend" && c.RequirePass != "":
		return fmt.Errorf("invalid setting requirepass: with auth backend, clients authenticate as the backend's users; remove requirepass")
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("invalid setting metrics-listen=%q: %v", c.MetricsListen, err)
		}
	}
	if c.ReadFrom != "" && c.ReadFrom != "masters" && c.ReadFrom != "replicas" {
		return fmt.Errorf("invalid setting read-from=%q: must be masters or replicas", c.ReadFrom)
	}
	if c.ProtectedMode != "yes" && c.ProtectedMode != "no" {
		return fmt.Errorf("invalid setting protected-mode=%q: must be yes or no", c.ProtectedMode)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("invalid setting log-level=%q: must be debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		return fmt.Errorf("invalid setting log-format=%q: must be json or console", c.LogFormat)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("invalid setting shutdown-timeout=%s: must not be negative", c.ShutdownTimeout)
	}
	if c.BackendConns < 0 || c.BackendConns > 64 {
		return fmt.Errorf("invalid setting backend-conns=%d: must be between 1 and 64", c.BackendConns)
	}
	for name, v := range map[string]string{"client-output-buffer-limit": c.ClientOutputBufferLimit, "pubsub-output-buffer-limit": c.PubSubOutputBufferLimit} {
		if _, err := ParseSize(v); err != nil {
			return fmt.Errorf("invalid setting %s: %v", name, err)
		}
	}
	// Redis's own bounds: at least 1mb of query buffer, a positive client
	// count, a non-negative timeout.
	if n, err := ParseSize(c.ClientQueryBufferLimit); err != nil || n < 1<<20 {
		return fmt.Errorf("invalid setting client-query-buffer-limit=%q: must be a size of at least 1mb", c.ClientQueryBufferLimit)
	}
	if c.MaxClients < 1 {
		return fmt.Errorf("invalid setting maxclients=%d: must be at least 1", c.MaxClients)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("invalid setting timeout=%d: must not be negative", c.Timeout)
	}
	if err := c.validateCache(); err != nil {
		return err
	}
	if c.VerbsDir != "" {
		if st, err := os.Stat(c.VerbsDir); err != nil || !st.IsDir() {
			return fmt.Errorf("invalid setting verbs-dir=%q: not a readable directory", c.VerbsDir)
		}
	}
	return nil
}

func yesNo(v string) (bool, error) {
	switch v {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", v)
}

func (c *Config) validateTLS() error {
	_, port, _ := net.SplitHostPort(c.Listen)
	switch {
	case c.TLSPort < 0 || c.TLSPort > 65535:
		return fmt.Errorf("invalid setting tls-port=%d: must be a port number", c.TLSPort)
	case c.TLSPort == 0 && port == "0":
		return fmt.Errorf("invalid setting listen=%q: port 0 turns the plain listener off, so tls-port is needed", c.Listen)
	case c.TLSPort != 0 && (c.TLSCertFile == "" || c.TLSKeyFile == ""):
		return fmt.Errorf("invalid setting tls-port=%d: tls-cert-file and tls-key-file are required", c.TLSPort)
	case c.TLSAuthClients != "yes" && c.TLSAuthClients != "no" && c.TLSAuthClients != "optional":
		return fmt.Errorf("invalid setting tls-auth-clients=%q: must be yes, no or optional", c.TLSAuthClients)
	case c.TLSPort != 0 && c.TLSAuthClients != "no" && c.TLSCACertFile == "":
		return fmt.Errorf("invalid setting tls-auth-clients=%s: checking client certificates needs tls-ca-cert-file", c.TLSAuthClients)
	case (c.BackendTLSCertFile == "") != (c.BackendTLSKeyFile == ""):
		return fmt.Errorf("invalid setting backend-tls-cert-file: set it together with backend-tls-key-file")
	}
	backendTLS := c.BackendTLSCACertFile != "" || c.BackendTLSCertFile != "" || c.BackendTLSServerName != "" || c.BackendTLSInsecureSkipVerify
	if backendTLS && !strings.HasPrefix(c.Backend, "rediss") {
		return fmt.Errorf("invalid setting backend=%q: backend-tls-* settings need a rediss backend", c.Backend)
	}
	return nil
}

func (c *Config) validateCache() error {
	if n, err := ParseSize(c.CacheMaxMemory); err != nil || n < 1<<20 {
		return fmt.Errorf("invalid setting cache-max-memory=%q: must be a size of at least 1mb", c.CacheMaxMemory)
	}
	if c.CacheTTL < 0 {
		return fmt.Errorf("invalid setting cache-ttl=%s: must not be negative", c.CacheTTL)
	}
	for _, p := range c.CachePrefix {
		if p == "" {
			return fmt.Errorf("invalid setting cache-prefix: an empty prefix (leave cache-prefix out to cache every key)")
		}
	}
	if c.Cache && c.ReadFrom == "replicas" {
		// A replica may still serve a value after the master announced
		// its change: the cache would keep it until the next change.
		return fmt.Errorf("invalid setting cache: cannot cache reads from replicas (read-from replicas); read from masters")
	}
	return nil
}
