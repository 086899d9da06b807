package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/okta-oidc/okta-oidc/internal/metrics"
	"github.com/okta-oidc/okta-oidc/internal/session"
	"github.com/okta-oidc/okta-oidc/internal/sessionstore"
	"github.com/okta-oidc/okta-oidc/internal/token"
)

// decideSession authenticates a request by its session cookie. handled is
// false when there is no usable session; the caller then treats the request
// as unauthenticated and clears any session cookies.
func (e *Engine) decideSession(ctx context.Context, r *Request, target string) (d Decision, handled bool) {
	jar := session.ParseCookieHeader(r.Header.Values("Cookie"))
	s, err := e.store.Load(ctx, jar)
	switch {
	case errors.Is(err, sessionstore.ErrUnavailable):
		// The store cannot say whether the session lives: fail closed,
		// and keep the cookie for when it answers again.
		return unavailable(err), true
	case err != nil:
		return Decision{}, false
	}
	now := e.now()
	if s.Expired(now, session.Timeouts{Idle: e.cfg.IdleTimeout, Absolute: e.cfg.AbsoluteTimeout}) {
		return Decision{}, false
	}
	var setCookies []string
	claims, err := e.access.Verify(ctx, s.AccessToken)
	switch {
	case err == nil:
		if e.cfg.IdleTimeout > 0 && now.Sub(s.LastSeen) >= e.cfg.IdleTimeout/10 {
			s.LastSeen = now
			if setCookies, err = e.sealSession(ctx, &s, jar); err != nil {
				return e.sealFailed(err, r.Header)
			}
		}
	case errors.Is(err, token.ErrExpired):
		if !e.cfg.RefreshTokens || s.RefreshToken == "" {
			return Decision{}, false
		}
		renewed, c, rerr := e.refresh(ctx, s)
		_, refused := idpRefused(rerr)
		switch {
		case rerr == nil:
		case refused || errors.Is(rerr, token.ErrInvalid):
			return Decision{Err: rerr}, false // the IdP said no: log in again
		default:
			// The IdP could not be reached: keep the session for later
			// rather than throwing the user back to a login that fails too.
			return unavailable(rerr), true
		}
		s, claims = renewed, c
		s.LastSeen = now
		if setCookies, err = e.sealSession(ctx, &s, jar); err != nil {
			return e.sealFailed(err, r.Header)
		}
	case errors.Is(err, token.ErrInvalid):
		return Decision{}, false
	default:
		return unavailable(err), true
	}
	var respHeader http.Header
	if len(setCookies) > 0 {
		respHeader = http.Header{"Set-Cookie": setCookies}
	}
	if d, denied := e.deny(r, claims, respHeader, displayClaims(s.IDToken)); denied {
		return d, true
	}
	d = e.pass(ReasonAuthenticated, claims, r, respHeader)
	e.forwardTokens(&d, s.AccessToken, s.IDToken)
	return d, true
}

// sealSession stores s and returns the Set-Cookie values that carry it,
// including the deletion of chunks the new value no longer uses. A session
// whose cookies would take more than session_cookie_max_size of the Cookie
// line is refused with a *sessionTooLargeError: nginx would answer every
// later request 400 before the plugin runs.
func (e *Engine) sealSession(ctx context.Context, s *session.Session, jar map[string]string) ([]string, error) {
	cookies, err := e.store.Save(ctx, s)
	switch {
	case errors.Is(err, session.ErrTooLarge):
		n := len(session.Marshal(*s))
		return nil, &sessionTooLargeError{size: session.SealedSize(e.cfg.Cookie.Name, n), budget: e.cfg.SessionCookieMaxSize}
	case err != nil:
		return nil, fmt.Errorf("gateway: storing session: %w", err)
	}
	if n := session.LineSize(cookies); n > e.cfg.SessionCookieMaxSize {
		return nil, &sessionTooLargeError{size: n, budget: e.cfg.SessionCookieMaxSize}
	}
	maxAge := 0 // a browser-session cookie; the timeouts inside the payload rule
	if e.cfg.AbsoluteTimeout > 0 {
		maxAge = int(e.cfg.AbsoluteTimeout / time.Second)
	}
	out := make([]string, 0, len(cookies)+2)
	for _, c := range cookies {
		out = append(out, session.SetCookie(c.Name, c.Value, e.attrs, maxAge))
	}
	for _, n := range session.StaleCookies(e.cfg.Cookie.Name, jar, cookies) {
		out = append(out, session.SetCookie(n, "", e.attrs, -1))
	}
	return out, nil
}

// sessionTooLargeError says, for the operator's log, that a session does not
// fit the Cookie line and what to change. It never holds a token.
type sessionTooLargeError struct{ size, budget int }

func (e *sessionTooLargeError) Error() string {
	return fmt.Sprintf("gateway: session not stored: its cookies would take about %d bytes of the Cookie line, over session_cookie_max_size (%d); "+
		"nginx refuses a header line longer than large_client_header_buffers (8k by default in Kong) with 400 before the plugin runs: "+
		"raise KONG_NGINX_PROXY_LARGE_CLIENT_HEADER_BUFFERS (e.g. \"4 16k\") and session_cookie_max_size together, or send fewer groups in the tokens",
		e.size, e.budget)
}

// sessionNotStored answers a login or a session renewal whose session does
// not fit: a 500 page for the person (the sign-in worked, storing it did
// not), the cause in Err for the log, and the deletion of every session
// cookie the request carries.
func (e *Engine) sessionNotStored(err error, h http.Header) Decision {
	d := respond(http.StatusInternalServerError, ReasonSessionTooLarge,
		failedPage("You signed in, but your sign-in could not be stored: the session is too large for a browser cookie. Please contact your administrator."),
		"text/html; charset=utf-8", err)
	for _, c := range e.clearSession(h) {
		d.Header.Add("Set-Cookie", c)
	}
	return d
}

// sealFailed is the answer when sealSession fails; handled is false when
// the session was ended meanwhile (the request is then unauthenticated).
func (e *Engine) sealFailed(err error, h http.Header) (Decision, bool) {
	var big *sessionTooLargeError
	switch {
	case errors.As(err, &big):
		return e.sessionNotStored(err, h), true
	case errors.Is(err, sessionstore.ErrEnded):
		return Decision{Err: err}, false
	case errors.Is(err, sessionstore.ErrUnavailable):
		return unavailable(err), true
	}
	return Internal(err), true
}

// clearSession returns deletion cookies for every session cookie the
// request carries.
func (e *Engine) clearSession(h http.Header) []string {
	if e.codec == nil {
		return nil
	}
	jar := session.ParseCookieHeader(h.Values("Cookie"))
	var out []string
	for _, n := range session.ClearCookies(e.cfg.Cookie.Name, jar) {
		out = append(out, session.SetCookie(n, "", e.attrs, -1))
	}
	return out
}

// refresh renews the session's access token with its refresh token.
// Concurrent requests of one session share one call to the token endpoint
// (Okta may revoke a rotated refresh token that is used twice).
func (e *Engine) refresh(ctx context.Context, s session.Session) (session.Session, token.Claims, error) {
	key := sha256.Sum256([]byte(e.cfg.Issuer + "|" + e.cfg.ClientID + "|" + s.RefreshToken))
	res := refreshes.do(key, e.now(), func() refreshResult {
		meta, err := e.iss.Metadata(ctx)
		if err != nil {
			return refreshResult{err: err}
		}
		ts := e.oauth(meta).TokenSource(e.clientContext(ctx), &oauth2.Token{RefreshToken: s.RefreshToken, Expiry: time.Unix(1, 0)})
		done := metrics.Since(e.metrics)
		tok, err := ts.Token()
		done(metrics.CallRefresh, err)
		if err != nil {
			return refreshResult{err: fmt.Errorf("gateway: refresh: %w", quietIdP(err))}
		}
		return refreshResult{tok: tok}
	})
	if res.err != nil {
		return s, nil, res.err
	}
	claims, err := e.access.Verify(ctx, res.tok.AccessToken)
	if err != nil {
		return s, nil, fmt.Errorf("gateway: refreshed access token: %w", err)
	}
	s.AccessToken = res.tok.AccessToken
	s.AccessExpiry = accessExpiry(claims, res.tok)
	if res.tok.RefreshToken != "" {
		s.RefreshToken = res.tok.RefreshToken
	}
	if id, ok := res.tok.Extra("id_token").(string); ok && id != "" {
		// Verified before it is kept: it may be forwarded upstream
		// (upstream_id_token_header) and must name the same user.
		idc, err := e.idTok.Verify(ctx, id)
		if err != nil {
			return s, nil, fmt.Errorf("gateway: refreshed ID token: %w", err)
		}
		if idc.String("sub") != s.Subject {
			return s, nil, fmt.Errorf("gateway: refreshed ID token: %w: another subject", token.ErrInvalid)
		}
		s.IDToken = id
	}
	return s, claims, nil
}

type refreshResult struct {
	tok *oauth2.Token
	err error
}

type refreshCall struct {
	done chan struct{}
	res  refreshResult
	at   time.Time
}

// refreshGroup shares one refresh per refresh token, and remembers the
// result briefly so requests that arrive just after still get it.
type refreshGroup struct {
	mu    sync.Mutex
	calls map[[32]byte]*refreshCall
}

var refreshes = &refreshGroup{calls: map[[32]byte]*refreshCall{}}

const refreshMemory = 30 * time.Second

func (g *refreshGroup) do(key [32]byte, now time.Time, fn func() refreshResult) refreshResult {
	g.mu.Lock()
	for k, c := range g.calls {
		select {
		case <-c.done:
			if now.Sub(c.at) > refreshMemory {
				delete(g.calls, k)
			}
		default:
		}
	}
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		<-c.done
		return c.res
	}
	c := &refreshCall{done: make(chan struct{}), at: now}
	g.calls[key] = c
	g.mu.Unlock()
	c.res = fn()
	if c.res.err != nil {
		g.mu.Lock()
		delete(g.calls, key) // do not remember failures
		g.mu.Unlock()
	}
	close(c.done)
	return c.res
}

var hopTmpl = template.Must(template.New("hop").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={{.}}"><title>Signed in</title></head>
<body><p>Signed in. <a href="{{.}}">Continue</a></p></body></html>
`))

func hopPage(target string) []byte {
	var b strings.Builder
	_ = hopTmpl.Execute(&b, target)
	return []byte(b.String())
}

// displayClaims reads the claims of the session's ID token for display only
// (the 403 page). The token was verified at login and the session cookie is
// authenticated, so it is not verified again; it is never used to decide.
func displayClaims(idToken string) token.Claims {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c token.Claims
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	return c
}
