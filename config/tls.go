package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// ServerTLS is the TLS configuration of the client-facing listener, from
// the tls-* settings. Reload re-reads the files (on SIGHUP); connections
// made after it use the new certificate and CA.
type ServerTLS struct {
	certFile, keyFile, caFile string
	auth                      tls.ClientAuthType
	current                   atomic.Pointer[tls.Config]
}

// NewServerTLS reads the files named by the settings. The settings must
// have been validated.
func NewServerTLS(c Config) (*ServerTLS, error) {
	st := &ServerTLS{certFile: c.TLSCertFile, keyFile: c.TLSKeyFile, caFile: c.TLSCACertFile}
	switch c.TLSAuthClients {
	case "no":
		st.auth = tls.NoClientCert
	case "optional":
		st.auth = tls.VerifyClientCertIfGiven
	default:
		st.auth = tls.RequireAndVerifyClientCert
	}
	return st, st.Reload()
}

// Reload reads the certificate, key and CA files again. On error the
// previous configuration stays in force.
func (st *ServerTLS) Reload() error {
	cert, err := tls.LoadX509KeyPair(st.certFile, st.keyFile)
	if err != nil {
		return fmt.Errorf("tls-cert-file/tls-key-file: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: st.auth, MinVersion: tls.VersionTLS12}
	if st.caFile != "" {
		if cfg.ClientCAs, err = readPool(st.caFile); err != nil {
			return fmt.Errorf("tls-ca-cert-file: %w", err)
		}
	}
	st.current.Store(cfg)
	return nil
}

// Config is the listener's configuration: it hands each new connection the
// files as last loaded.
func (st *ServerTLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return st.current.Load(), nil
		},
	}
}

// BackendTLS is the configuration for a rediss backend from the
// backend-tls-* settings, or nil to use the defaults (the system's roots).
func BackendTLS(c Config) (*tls.Config, error) {
	if c.BackendTLSCACertFile == "" && c.BackendTLSCertFile == "" && c.BackendTLSServerName == "" && !c.BackendTLSInsecureSkipVerify {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.BackendTLSServerName, InsecureSkipVerify: c.BackendTLSInsecureSkipVerify}
	var err error
	if c.BackendTLSCACertFile != "" {
		if cfg.RootCAs, err = readPool(c.BackendTLSCACertFile); err != nil {
			return nil, fmt.Errorf("backend-tls-ca-cert-file: %w", err)
		}
	}
	if c.BackendTLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.BackendTLSCertFile, c.BackendTLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("backend-tls-cert-file/backend-tls-key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func readPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
