package sessionstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/testredis"
)

// There is no kong.yml key for a Redis CA: with redis_ssl_verify the
// server's certificate must chain to the system roots. TestMain makes a
// throwaway CA the only system root (SSL_CERT_FILE, read once by
// crypto/x509 on first use), so a certificate it signed is trusted and any
// other is not.
var pki struct {
	dir     string
	trusted string // CA file the roots hold
	signed  [2]string
	self    [2]string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sessionstore-pki")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		if err := makePKI(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_ = os.Setenv("SSL_CERT_FILE", pki.trusted)
		// crypto/x509 reads every file in SSL_CERT_DIR: an empty one, so
		// nothing else is trusted.
		_ = os.Setenv("SSL_CERT_DIR", filepath.Join(dir, "empty"))
		return m.Run()
	}()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// makePKI writes a CA, a server certificate it signed for redis.test
// (only: not for 127.0.0.1), and a self-signed one for redis.test.
func makePKI(dir string) error {
	pki.dir = dir
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o700); err != nil {
		return err
	}
	key := func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }
	caKey, err := key()
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sessionstore test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	pki.trusted = filepath.Join(dir, "ca.pem")
	if err := writePEM(pki.trusted, "CERTIFICATE", caDER); err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	leaf := func(serial int64, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([2]string, error) {
		k, err := key()
		if err != nil {
			return [2]string{}, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "redis.test"},
			DNSNames: []string{"redis.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if parent == nil {
			parent, parentKey = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
		if err != nil {
			return [2]string{}, err
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return [2]string{}, err
		}
		files := [2]string{filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")}
		if err := writePEM(files[0], "CERTIFICATE", der); err != nil {
			return files, err
		}
		return files, writePEM(files[1], "EC PRIVATE KEY", kder)
	}
	if pki.signed, err = leaf(2, "signed", caCert, caKey); err != nil {
		return err
	}
	pki.self, err = leaf(3, "self", nil, nil)
	return err
}

// startTLS runs a redis-server that also listens with TLS, presenting
// cert; it returns the TLS port. Without TLS support in redis-server the
// test is skipped, except under CI=true.
func startTLS(t *testing.T, cert [2]string) int {
	t.Helper()
	port := testredis.FreePort(t)
	if !testredis.Available() {
		testredis.Start(t) // skips or fails as every Redis test does
	}
	s := &testredis.Server{Port: testredis.FreePort(t), Dir: t.TempDir(), Args: []string{
		"--tls-port", strconv.Itoa(port), "--tls-cert-file", cert[0], "--tls-key-file", cert[1],
		"--tls-ca-cert-file", pki.trusted, "--tls-auth-clients", "no",
	}}
	if err := s.Restart(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server with TLS: %v", err)
		}
		t.Skipf("redis-server without TLS support? %v", err)
	}
	t.Cleanup(s.Stop)
	return port
}

func tlsSettings(port int, verify bool, serverName string) config.Redis {
	return config.Redis{
		Host: "127.0.0.1", Port: port, Prefix: "t:", SSL: true, SSLVerify: verify, ServerName: serverName,
		ConnectTimeout: time.Second, ReadTimeout: time.Second, SendTimeout: time.Second,
	}
}

func storeWith(t *testing.T, st config.Redis) *Redis {
	t.Helper()
	r, err := NewRedis(RedisOptions{
		Settings: st, Secrets: []string{secret}, Issuer: "https://idp.example/oauth2/default",
		ClientID: "kong-web", CookieName: "okta_session", Absolute: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// works: a session saved through the store loads back.
func works(t *testing.T, r *Redis) {
	t.Helper()
	c := &clk{now: time.Now()}
	s := sample(c, "alice", "sid-1")
	cs, err := r.Save(context.Background(), &s)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, err := r.Load(context.Background(), jarOf(cs)); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

// refused: every operation fails closed with ErrUnavailable, never a pass.
func refused(t *testing.T, r *Redis) {
	t.Helper()
	c := &clk{now: time.Now()}
	s := sample(c, "alice", "sid-1")
	if cs, err := r.Save(context.Background(), &s); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Save = %v, %v; want ErrUnavailable", cs, err)
	}
	if ok, err := r.UseOnce(context.Background(), "jti x", 60); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("UseOnce = %v, %v; want false, ErrUnavailable", ok, err)
	}
	if n, err := r.EndSessions(context.Background(), "alice", ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("EndSessions = %d, %v; want ErrUnavailable", n, err)
	}
}

// TestRedisTLSVerifies: with redis_ssl and redis_ssl_verify (the default)
// the store talks only to a server whose certificate chains to the system
// roots and names redis_server_name (or redis_host); otherwise it is
// unavailable. redis_ssl_verify: false accepts any certificate.
func TestRedisTLSVerifies(t *testing.T) {
	signed := startTLS(t, pki.signed)
	self := startTLS(t, pki.self)
	t.Run("trusted CA, right server name", func(t *testing.T) {
		works(t, storeWith(t, tlsSettings(signed, true, "redis.test")))
	})
	t.Run("trusted CA, wrong server name", func(t *testing.T) {
		refused(t, storeWith(t, tlsSettings(signed, true, "other.test")))
	})
	t.Run("trusted CA, host name is not in the certificate", func(t *testing.T) {
		refused(t, storeWith(t, tlsSettings(signed, true, "")))
	})
	t.Run("self-signed, verify on", func(t *testing.T) {
		refused(t, storeWith(t, tlsSettings(self, true, "redis.test")))
	})
	t.Run("self-signed, redis_ssl_verify false", func(t *testing.T) {
		works(t, storeWith(t, tlsSettings(self, false, "")))
	})
	t.Run("plain client to the TLS port", func(t *testing.T) {
		st := tlsSettings(signed, true, "redis.test")
		st.SSL = false
		refused(t, storeWith(t, st))
	})
}

// TestRedisAuth: redis_password (the default user) and redis_username with
// redis_password (an ACL user) authenticate; a missing or wrong one makes
// the store unavailable, never a pass.
func TestRedisAuth(t *testing.T) {
	srv := testredis.StartWith(t, "--requirepass", "default-pw", "--user", "alice", "on", ">alice-pw", "~*", "&*", "+@all")
	for _, tc := range []struct {
		name, user, pw string
		ok             bool
	}{
		{"default user, right password", "", "default-pw", true},
		{"ACL user, right password", "alice", "alice-pw", true},
		{"no password", "", "", false},
		{"default user, wrong password", "", "wrong-pw", false},
		{"ACL user, wrong password", "alice", "default-pw", false},
		{"unknown user", "mallory", "alice-pw", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := settings(srv)
			st.Username, st.Password = tc.user, tc.pw
			st.ConnectTimeout, st.ReadTimeout, st.SendTimeout = time.Second, time.Second, time.Second
			if r := storeWith(t, st); tc.ok {
				works(t, r)
			} else {
				refused(t, r)
			}
		})
	}
}
