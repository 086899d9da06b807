package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/okta-oidc/okta-oidc/internal/issuer"
	"github.com/okta-oidc/okta-oidc/internal/metrics"
	"github.com/okta-oidc/okta-oidc/internal/returnto"
	"github.com/okta-oidc/okta-oidc/internal/revoke"
	"github.com/okta-oidc/okta-oidc/internal/session"
	"github.com/okta-oidc/okta-oidc/internal/sessionstore"
	"github.com/okta-oidc/okta-oidc/internal/token"
)

// maxLoginCookies bounds parallel login attempts kept in one browser; older
// ones are dropped so cookies cannot pile up.
const maxLoginCookies = 4

func (e *Engine) random() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(e.rand, b); err != nil {
		return "", fmt.Errorf("gateway: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (e *Engine) oauth(m *issuer.Metadata) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     e.cfg.ClientID,
		ClientSecret: e.cfg.ClientSecret,
		RedirectURL:  e.cfg.RedirectURI.String(),
		Scopes:       e.cfg.Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   m.AuthorizationEndpoint,
			TokenURL:  m.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
}

func (e *Engine) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, e.client)
}

// loginURL is where a single-page app can send the user to sign in and come
// back to target: the callback path without a code starts a login.
func (e *Engine) loginURL(target string) string {
	return e.cfg.RedirectURI.Path + "?return_to=" + url.QueryEscape(returnto.Sanitize(target))
}

// loginAttrs are the login-state cookie's attributes: Lax at the strictest,
// since the IdP sends the browser back with a cross-site navigation.
func (e *Engine) loginAttrs() session.Attributes {
	a := e.attrs
	if a.SameSite == "Strict" {
		a.SameSite = "Lax"
	}
	return a
}

// startLogin answers with a redirect to the authorization endpoint
// (authorization code with PKCE S256, state and nonce) and keeps the login
// state in a short-lived encrypted cookie of its own.
func (e *Engine) startLogin(r *Request, target string, setCookies []string) Decision {
	ctx := context.Background()
	meta, err := e.iss.Metadata(ctx)
	if err != nil {
		return unavailable(err)
	}
	state, err := e.random()
	if err != nil {
		return Internal(err)
	}
	nonce, err := e.random()
	if err != nil {
		return Internal(err)
	}
	verifier, err := e.random()
	if err != nil {
		return Internal(err)
	}
	ls := session.LoginState{State: state, Nonce: nonce, Verifier: verifier, ReturnTo: returnto.Sanitize(target), Created: e.now()}
	name := session.LoginCookieName(e.cfg.Cookie.Name, state)
	value, err := e.codec.Seal(name, session.MarshalLoginState(ls))
	if err != nil {
		return Internal(err)
	}
	loc := e.oauth(meta).AuthCodeURL(state,
		oauth2.SetAuthURLParam("nonce", nonce),
		oauth2.S256ChallengeOption(verifier))

	d := Decision{Action: Respond, Reason: ReasonLogin, Status: http.StatusFound, Header: http.Header{}}
	d.Header.Set("Location", loc)
	d.Header.Set("Cache-Control", "no-store")
	for _, c := range setCookies {
		d.Header.Add("Set-Cookie", c)
	}
	stale := session.LoginCookieNames(e.cfg.Cookie.Name, session.ParseCookieHeader(r.Header.Values("Cookie")))
	if len(stale) >= maxLoginCookies {
		for _, n := range stale {
			d.Header.Add("Set-Cookie", session.SetCookie(n, "", e.loginAttrs(), -1))
		}
	}
	d.Header.Add("Set-Cookie", session.SetCookie(name, value, e.loginAttrs(), int(e.cfg.LoginTimeout/time.Second)))
	return d
}

func (e *Engine) callbackFailed(status int, why string, clear []string, err error) Decision {
	d := respond(status, ReasonCallbackFailed, failedPage(why), "text/html; charset=utf-8", err)
	for _, c := range clear {
		d.Header.Add("Set-Cookie", c)
	}
	return d
}

// callback completes a login at redirect_uri's path.
func (e *Engine) callback(ctx context.Context, r *Request, rawQuery string) Decision {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return e.callbackFailed(http.StatusBadRequest, "The sign-in response was malformed.", nil, err)
	}
	if !q.Has("state") && !q.Has("code") && !q.Has("error") {
		// No login response: this is the login URL given to single-page apps.
		return e.startLogin(r, q.Get("return_to"), nil)
	}
	if len(q["state"]) != 1 || q.Get("state") == "" || len(q["code"]) > 1 {
		return e.callbackFailed(http.StatusBadRequest, "The sign-in response was malformed.", nil, errors.New("callback: missing or repeated state"))
	}
	state := q.Get("state")
	name := session.LoginCookieName(e.cfg.Cookie.Name, state)
	jar := session.ParseCookieHeader(r.Header.Values("Cookie"))
	clear := []string{session.SetCookie(name, "", e.loginAttrs(), -1)}
	value, ok := jar[name]
	if !ok {
		return e.callbackFailed(http.StatusBadRequest, "This sign-in was not started here, or it took too long. Please try again.", nil, errors.New("callback: no login state for this state"))
	}
	plain, err := e.codec.Open(name, value)
	if err != nil {
		return e.callbackFailed(http.StatusBadRequest, "This sign-in was not started here. Please try again.", clear, fmt.Errorf("callback: login state: %w", err))
	}
	ls, err := session.UnmarshalLoginState(plain)
	if err != nil || ls.State != state {
		return e.callbackFailed(http.StatusBadRequest, "This sign-in was not started here. Please try again.", clear, errors.New("callback: state mismatch"))
	}
	now := e.now()
	if ls.Expired(now, e.cfg.LoginTimeout) {
		return e.callbackFailed(http.StatusBadRequest, "This sign-in took too long. Please try again.", clear, errors.New("callback: login state expired"))
	}
	sum := sha256.Sum256([]byte(state))
	if !e.replay.Use(sum, ls.Created.Add(e.cfg.LoginTimeout), now) {
		return e.callbackFailed(http.StatusBadRequest, "This sign-in response was already used. Please try again.", clear, errors.New("callback: state replayed"))
	}
	if errCode := q.Get("error"); errCode != "" {
		return e.callbackFailed(http.StatusUnauthorized, "The identity provider did not sign you in.", clear, fmt.Errorf("callback: IdP error %q", errCode))
	}
	if iss := q.Get("iss"); q.Has("iss") && iss != e.cfg.Issuer {
		return e.callbackFailed(http.StatusBadRequest, "The sign-in response came from another issuer.", clear, fmt.Errorf("callback: iss %q", iss))
	}
	code := q.Get("code")
	if code == "" {
		return e.callbackFailed(http.StatusBadRequest, "The sign-in response was malformed.", clear, errors.New("callback: no code"))
	}
	meta, err := e.iss.Metadata(ctx)
	if err != nil {
		return unavailable(err)
	}
	done := metrics.Since(e.metrics)
	tok, err := e.oauth(meta).Exchange(e.clientContext(ctx), code, oauth2.VerifierOption(ls.Verifier))
	done(metrics.CallToken, err)
	if err != nil {
		if re, refused := idpRefused(err); refused {
			return e.callbackFailed(http.StatusBadRequest, "The sign-in code was refused. Please try again.", clear, fmt.Errorf("callback: code exchange: %s", re.ErrorCode))
		}
		return unavailable(fmt.Errorf("callback: code exchange: %w", quietIdP(err)))
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return e.callbackFailed(http.StatusBadRequest, "The identity provider sent no ID token.", clear, errors.New("callback: no id_token"))
	}
	idClaims, err := e.idTok.VerifyID(ctx, rawID, ls.Nonce, e.cfg.ClientID)
	if err != nil {
		if !errors.Is(err, token.ErrInvalid) {
			return unavailable(err)
		}
		return e.callbackFailed(http.StatusBadRequest, "The identity provider's answer did not verify.", clear, fmt.Errorf("callback: id token: %w", err))
	}
	atClaims, err := e.access.Verify(ctx, tok.AccessToken)
	if err != nil {
		if !errors.Is(err, token.ErrInvalid) {
			return unavailable(err)
		}
		return e.callbackFailed(http.StatusBadRequest, "The identity provider's access token did not verify.", clear, fmt.Errorf("callback: access token: %w", err))
	}
	s := session.Session{
		Subject:      idClaims.String("sub"),
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		IDToken:      rawID,
		AccessExpiry: accessExpiry(atClaims, tok),
		Created:      now,
		LastSeen:     now,
		SID:          idClaims.String("sid"),
	}
	cookies, err := e.sealSession(ctx, &s, jar)
	if err != nil {
		d, handled := e.sealFailed(err, r.Header)
		if !handled {
			d = Internal(err)
		}
		d.Header.Add("Set-Cookie", clear[0]) // the login state is spent
		return d
	}
	clear = append(clear, cookies...)
	if e.attrs.SameSite == "Strict" {
		// A Strict cookie is not sent on a redirect chain that began on the
		// IdP's site; a same-site page hop makes the browser send it.
		d := respond(http.StatusOK, ReasonCallback, hopPage(ls.ReturnTo), "text/html; charset=utf-8", nil)
		d.Header["Set-Cookie"] = clear
		d.Subject = s.Subject
		return d
	}
	d := Decision{Action: Respond, Reason: ReasonCallback, Status: http.StatusFound, Header: http.Header{}, Subject: s.Subject}
	d.Header.Set("Location", ls.ReturnTo)
	d.Header.Set("Cache-Control", "no-store")
	d.Header["Set-Cookie"] = clear
	return d
}

func accessExpiry(c token.Claims, tok *oauth2.Token) time.Time {
	if exp, ok, err := c.Time("exp"); ok && err == nil {
		return exp
	}
	return tok.Expiry
}

// logout ends the session: its refresh and access tokens are revoked at the
// issuer (so a copy of the cookie dies, at the latest, when its access token
// expires), the cookies are cleared and the browser goes to the IdP's
// end_session_endpoint (with id_token_hint), or to logout_redirect_uri.
// A revocation that fails does not stop the logout: the Decision then
// carries the failure in Err for the log (never a token).
func (e *Engine) logout(ctx context.Context, r *Request) Decision {
	jar := session.ParseCookieHeader(r.Header.Values("Cookie"))
	s, err := e.store.Load(ctx, jar)
	if errors.Is(err, sessionstore.ErrUnavailable) {
		// The store cannot end the session now: saying "signed out" while
		// a copy of the cookie still opens it on every node would be a lie.
		// 503, cookies kept, so the user can log out again in a moment.
		return unavailable(fmt.Errorf("logout: %w", err))
	}
	d := Decision{Action: Respond, Reason: ReasonLogout, Status: http.StatusFound, Header: http.Header{}, Subject: s.Subject}
	d.Header.Set("Cache-Control", "no-store")
	for _, n := range session.ClearCookies(e.cfg.Cookie.Name, jar) {
		d.Header.Add("Set-Cookie", session.SetCookie(n, "", e.attrs, -1))
	}
	// A server-side session ends here for every node at once: a copy of
	// the cookie opens nothing from now on.
	var errs []error
	if err := e.store.Delete(ctx, s); err != nil {
		errs = append(errs, fmt.Errorf("the session was not deleted from the store: %w", err))
	}
	d.Err = errors.Join(errs...)
	loc := e.cfg.LogoutRedirect
	if loc == "" {
		loc = "/"
	}
	if s.RefreshToken == "" && s.AccessToken == "" && s.IDToken == "" {
		d.Header.Set("Location", loc)
		return d
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	meta, err := e.iss.Metadata(ctx)
	if err != nil {
		d.Err = errors.Join(append(errs, fmt.Errorf("the session's tokens were not revoked: %w", err))...)
		d.Header.Set("Location", loc)
		return d
	}
	rv := revoke.Client{HTTP: e.client, ClientID: e.cfg.ClientID, ClientSecret: e.cfg.ClientSecret}
	if err := rv.All(ctx, meta.RevocationEndpoint,
		revoke.Token{Value: s.RefreshToken, Hint: revoke.HintRefresh},
		revoke.Token{Value: s.AccessToken, Hint: revoke.HintAccess}); err != nil {
		d.Err = errors.Join(append(errs, err)...) // the log line names the reason, logout
	}
	if s.IDToken != "" && meta.EndSessionEndpoint != "" {
		if u, err := url.Parse(meta.EndSessionEndpoint); err == nil {
			v := u.Query()
			v.Set("id_token_hint", s.IDToken)
			if e.cfg.LogoutRedirect != "" {
				v.Set("post_logout_redirect_uri", e.cfg.LogoutRedirect)
			}
			u.RawQuery = v.Encode()
			loc = u.String()
		}
	}
	d.Header.Set("Location", loc)
	return d
}
