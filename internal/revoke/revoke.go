// Package revoke revokes tokens at the issuer's OAuth 2.0 revocation
// endpoint (RFC 7009; Okta's /v1/revoke).
package revoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Token type hints (RFC 7009 section 2.1).
const (
	HintRefresh = "refresh_token"
	HintAccess  = "access_token"
)

// ErrUnsupported means the issuer answered unsupported_token_type: it
// cannot revoke this kind of token (node-oidc-provider and JWT access
// tokens). The token then lives until it expires; nothing else can be done.
var ErrUnsupported = errors.New("revoke: the issuer cannot revoke this kind of token")

// maxAnswer bounds the error answer read.
const maxAnswer = 64 << 10

// Client revokes tokens with the client's credentials (client_secret_basic).
// It is safe for concurrent use.
type Client struct {
	HTTP         *http.Client // carries the timeout of each call
	ClientID     string
	ClientSecret string
}

// Token is one token to revoke and its type hint.
type Token struct {
	Value string
	Hint  string
}

// Revoke asks endpoint to revoke tok. Errors never hold the token.
func (c *Client) Revoke(ctx context.Context, endpoint string, tok Token) error {
	if endpoint == "" {
		return errors.New("revoke: the issuer advertises no revocation_endpoint")
	}
	form := url.Values{"token": {tok.Value}}
	if tok.Hint != "" {
		form.Set("token_type_hint", tok.Hint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("revoke: %s: %w", tok.Hint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 section 2.3.1: the credentials are form-encoded first.
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("revoke: %s: %w", tok.Hint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	code := errorCode(body)
	if code == "unsupported_token_type" {
		return fmt.Errorf("%w (%s)", ErrUnsupported, tok.Hint)
	}
	return fmt.Errorf("revoke: %s: status %d %s", tok.Hint, resp.StatusCode, code)
}

// errorCode returns the answer's RFC 6749 error code when it is a plain
// code (never free text from the IdP in our logs).
func errorCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) > 64 {
		return ""
	}
	for _, r := range e.Error {
		if (r < 'a' || r > 'z') && r != '_' {
			return ""
		}
	}
	return e.Error
}

// All revokes every non-empty token at once; the answer joins the failures.
// An ErrUnsupported answer is not a failure. ctx bounds the whole.
func (c *Client) All(ctx context.Context, endpoint string, toks ...Token) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, t := range toks {
		if t.Value == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Revoke(ctx, endpoint, t); err != nil && !errors.Is(err, ErrUnsupported) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
