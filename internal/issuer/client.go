package issuer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// MaxResponseBytes caps every response body read from the IdP.
const MaxResponseBytes = 1 << 20

// ErrTooLarge is returned when an IdP response exceeds MaxResponseBytes.
var ErrTooLarge = errors.New("issuer: response too large")

// NewHTTPClient returns the client used for every call to the IdP: a total
// timeout per call, TLS verification unless insecure, response bodies capped
// at MaxResponseBytes, and no redirect to another host.
func NewHTTPClient(timeout time.Duration, insecure bool) *http.Client {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}, //nolint:gosec // ssl_verify: false is the user's explicit choice
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     capTransport{t},
		CheckRedirect: sameHostRedirect,
	}
}

func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("issuer: too many redirects")
	}
	if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		return fmt.Errorf("issuer: refusing redirect from %s to another host", via[0].URL.Host)
	}
	return nil
}

type capTransport struct{ next http.RoundTripper }

func (c capTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &capReader{rc: resp.Body, left: MaxResponseBytes}
	return resp, nil
}

type capReader struct {
	rc   io.ReadCloser
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One more byte means the body is larger than allowed.
		var b [1]byte
		if n, _ := c.rc.Read(b[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capReader) Close() error { return c.rc.Close() }
