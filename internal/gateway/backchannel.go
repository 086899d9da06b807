package gateway

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/okta-oidc/okta-oidc/internal/token"
)

// maxLogoutBody bounds a back-channel logout request body.
const maxLogoutBody = 64 << 10

// ReasonBackchannelLogout: the IdP ended sessions with a logout token.
const ReasonBackchannelLogout Reason = "backchannel_logout"

// logoutTokenReplay is how long a logout token's jti is remembered: longer
// than the token may be accepted (its iat window plus the leeway).
const logoutTokenReplaySeconds = 600

func backchannelError(status int, desc string, err error) Decision {
	b := []byte(fmt.Sprintf(`{"error":"invalid_request","error_description":%q}`, desc))
	if status >= 500 {
		b = []byte(`{"error":"temporarily_unavailable"}`)
	}
	d := respond(status, ReasonBackchannelLogout, b, "application/json; charset=utf-8", err)
	return d
}

// backchannelLogout answers the IdP's POST of a logout_token (OpenID
// Connect Back-Channel Logout 1.0): the token is verified like every token
// of the issuer (signature, iss, aud = client_id, iat, exp) plus what makes
// it a logout token, its jti is used once (in Redis, for every node), and
// the sessions of its sid (else its sub) are deleted from the store, so
// every node refuses their cookies from then on.
func (e *Engine) backchannelLogout(ctx context.Context, r *Request) Decision {
	m, err := r.Method()
	if err != nil {
		return Internal(err)
	}
	if m != http.MethodPost {
		d := backchannelError(http.StatusMethodNotAllowed, "POST a logout_token", nil)
		d.Header.Set("Allow", http.MethodPost)
		return d
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return backchannelError(http.StatusBadRequest, "expected a form", errors.New("back-channel logout: not a form"))
	}
	// The body is read only once its announced size is known to be small:
	// a body past nginx's buffer reaches the plugin server whole (go-pdk
	// reads Kong's temp file), and Kong sets no client_max_body_size.
	switch n, err := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64); {
	case err != nil || n < 0:
		return backchannelError(http.StatusLengthRequired, "a Content-Length is required", errors.New("back-channel logout: no Content-Length"))
	case n > maxLogoutBody:
		return backchannelError(http.StatusRequestEntityTooLarge, "body too large", errors.New("back-channel logout: body too large"))
	}
	if r.Body == nil {
		return Internal(errors.New("back-channel logout: the request body cannot be read"))
	}
	body, err := r.Body()
	if err != nil {
		return backchannelError(http.StatusBadRequest, "unreadable body", fmt.Errorf("back-channel logout: body: %w", err))
	}
	if len(body) > maxLogoutBody {
		return backchannelError(http.StatusBadRequest, "body too large", errors.New("back-channel logout: body too large"))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || len(form["logout_token"]) != 1 || form.Get("logout_token") == "" {
		return backchannelError(http.StatusBadRequest, "expected one logout_token", errors.New("back-channel logout: no single logout_token"))
	}
	claims, err := e.logoutTokens.Verify(ctx, form.Get("logout_token"))
	if err != nil {
		if errors.Is(err, token.ErrInvalid) {
			return backchannelError(http.StatusBadRequest, "the logout_token did not verify", fmt.Errorf("back-channel logout: %w", err))
		}
		return backchannelError(http.StatusServiceUnavailable, "", fmt.Errorf("back-channel logout: %w", err))
	}
	jti := "jti " + claims.String("jti")
	fresh, err := e.ender.UseOnce(ctx, jti, logoutTokenReplaySeconds)
	if err != nil {
		return backchannelError(http.StatusServiceUnavailable, "", fmt.Errorf("back-channel logout: %w", err))
	}
	if !fresh {
		return backchannelError(http.StatusBadRequest, "the logout_token was already used", errors.New("back-channel logout: jti replayed"))
	}
	n, err := e.ender.EndSessions(ctx, claims.String("sub"), claims.String("sid"))
	if err != nil {
		// The IdP retries a logout that failed: let the same token in
		// again, or the sessions it names would never end.
		if ferr := e.ender.Forget(context.WithoutCancel(ctx), jti); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return backchannelError(http.StatusServiceUnavailable, "", fmt.Errorf("back-channel logout: %w", err))
	}
	d := respond(http.StatusOK, ReasonBackchannelLogout, nil, "text/plain; charset=utf-8", nil)
	d.Subject = claims.String("sub")
	d.Detail = fmt.Sprintf("%d session(s) ended", n)
	return d
}
