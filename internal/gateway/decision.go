// Package gateway is the plugin's decision core: it takes a request as plain
// data and returns a Decision (pass with upstream headers, or respond). It
// never imports go-pdk, never panics, and fails closed: a technical failure
// is a 5xx Decision, never a pass.
package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/okta-oidc/okta-oidc/internal/consumer"
	"github.com/okta-oidc/okta-oidc/internal/token"
)

// Request is what Decide reads. Header is read once by the adapter; the
// request line is fetched only when a decision needs it, because every PDK
// call is a round trip to Kong.
type Request struct {
	// Header holds the client's headers for reading, keys in canonical form
	// with "_" folded into "-" (see NewRequest): every spelling of a name is
	// one header.
	Header http.Header
	// Names are the header names as the client spelt them (Kong's lower-case
	// keys); a pass clears each one that is a managed header in another
	// spelling.
	Names []string
	// Method returns the request method.
	Method func() (string, error)
	// Target returns the path and query as the client sent them
	// (nginx's request_uri).
	Target func() (string, error)
	// Body returns the request body; read only at backchannel_logout_path
	// (nil: the adapter cannot read bodies).
	Body func() ([]byte, error)
	// Consumers looks Kong consumers up (kong.client.load_consumer); used
	// only on routes with consumer_claim or anonymous.
	Consumers consumer.Lookup
	// Credential reports whether an earlier plugin already authenticated a
	// credential (kong.client.get_credential); read only on routes with
	// anonymous.
	Credential func() (bool, error)
}

// Action says what the adapter must do.
type Action int

const (
	// Pass lets the request through to the upstream.
	Pass Action = iota
	// Respond answers the client without proxying.
	Respond
)

// Reason says why, for logs and tests.
type Reason string

const (
	ReasonAuthenticated  Reason = "authenticated"
	ReasonPreflight      Reason = "preflight"
	ReasonNoCredentials  Reason = "no_credentials"
	ReasonBadRequest     Reason = "invalid_request"
	ReasonTokenInvalid   Reason = "invalid_token"
	ReasonForbidden      Reason = "forbidden"
	ReasonLogin          Reason = "login_required"
	ReasonCallback       Reason = "callback"
	ReasonCallbackFailed Reason = "callback_failed"
	ReasonLogout         Reason = "logout"
	ReasonSignedOut      Reason = "signed_out"
	ReasonUnavailable    Reason = "idp_unavailable"
	ReasonConfig         Reason = "config_invalid"
	ReasonInternal       Reason = "internal_error"
	// ReasonSessionTooLarge: a login worked but its session does not fit
	// the Cookie line (session_cookie_max_size).
	ReasonSessionTooLarge Reason = "session_too_large"
)

// Decision is the outcome of Decide.
type Decision struct {
	Action Action
	Reason Reason

	// Respond: status, response headers and body.
	Status int
	Body   []byte
	// Header is the response to send (Respond) or the headers to add to the
	// client response (Pass, e.g. a renewed session cookie).
	Header http.Header

	// Upstream holds the headers to set on the upstream request (Pass); an
	// empty list clears the header.
	Upstream map[string][]string
	// RawQuery, when not nil, replaces the upstream query string (Pass).
	RawQuery *string

	// Subject is the authenticated subject, for logs.
	Subject string
	// Err is the cause, for logs only; never sent to the client.
	Err error
	// Detail explains a 403 for operators (which claim held what); logs only.
	Detail string

	// Identity, when not nil, is handed to Kong with
	// kong.client.authenticate (Pass).
	Identity *Identity
	// AuthenticatedGroups, when not nil, is stored in
	// kong.ctx.shared.authenticated_groups for Kong's acl plugin (Pass).
	AuthenticatedGroups []string

	// claims are the claims a Pass was granted on (nil: none).
	claims token.Claims
}

var (
	bodyUnauthorized = jsonBody("Unauthorized")
	bodyForbidden    = jsonBody("Forbidden")
	bodyBadRequest   = jsonBody("Bad request")
	bodyUnavailable  = jsonBody("Identity provider unavailable")
	bodyInternal     = jsonBody("An unexpected error occurred")
)

func jsonBody(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"message": msg})
	return b
}

func respond(status int, reason Reason, body []byte, contentType string, err error) Decision {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	return Decision{Action: Respond, Reason: reason, Status: status, Body: body, Header: h, Err: err}
}

func respondJSON(status int, reason Reason, body []byte, err error) Decision {
	return respond(status, reason, body, "application/json; charset=utf-8", err)
}

// ConfigError is the Decision for a route whose config is invalid: a fixed
// 500; the adapter logs the problems.
func ConfigError(err error) Decision {
	return respondJSON(http.StatusInternalServerError, ReasonConfig, bodyInternal, err)
}

// Internal is the Decision for a technical failure.
func Internal(err error) Decision {
	return respondJSON(http.StatusInternalServerError, ReasonInternal, bodyInternal, err)
}

// bearerChallenge builds a WWW-Authenticate value (RFC 6750 section 3).
func bearerChallenge(errCode string) string {
	v := `Bearer realm="okta-oidc"`
	if errCode != "" {
		v += `, error="` + errCode + `"`
	}
	return v
}

func unauthorized(reason Reason, errCode string, err error) Decision {
	d := respondJSON(http.StatusUnauthorized, reason, bodyUnauthorized, err)
	d.Header.Set("WWW-Authenticate", bearerChallenge(errCode))
	return d
}

func badRequest(err error) Decision {
	d := respondJSON(http.StatusBadRequest, ReasonBadRequest, bodyBadRequest, err)
	d.Header.Set("WWW-Authenticate", bearerChallenge("invalid_request"))
	return d
}

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "5"

func unavailable(err error) Decision {
	d := respondJSON(http.StatusServiceUnavailable, ReasonUnavailable, bodyUnavailable, err)
	d.Header.Set("Retry-After", retryAfter)
	return d
}

// forBrowser turns a 503 into an HTML page when the request is a browser
// navigation (a person looking at the page, not a script): API clients,
// XHR and fetch keep the JSON body. Other decisions are returned as they
// are; the request method is read only for a 503.
func forBrowser(r *Request, d Decision) Decision {
	if d.Action != Respond || d.Reason != ReasonUnavailable || !acceptsHTML(r.Header) {
		return d
	}
	m, err := r.Method()
	if err != nil || !isNavigation(m, r.Header) {
		return d
	}
	h := d.Header.Clone()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Retry-After", retryAfter)
	d.Header, d.Body = h, unavailablePage
	return d
}

// idpRefused reports whether err is the token endpoint's refusal of the
// request itself (4xx, e.g. invalid_grant): the user must sign in again.
// A 5xx or 429 is the IdP failing, not refusing: the caller answers 503.
func idpRefused(err error) (*oauth2.RetrieveError, bool) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return nil, false
	}
	if re.Response != nil && (re.Response.StatusCode >= 500 || re.Response.StatusCode == http.StatusTooManyRequests) {
		return nil, false
	}
	return re, true
}

// idpError is a token endpoint's error reduced to its status and error
// code for the log: an error_description, or a body that is not JSON, may
// echo the request (a code, a refresh token, the client secret). The
// *oauth2.RetrieveError stays reachable with errors.As.
type idpError struct{ re *oauth2.RetrieveError }

func (e idpError) Error() string {
	status := 0
	if e.re.Response != nil {
		status = e.re.Response.StatusCode
	}
	if e.re.ErrorCode == "" {
		return fmt.Sprintf("token endpoint: status %d", status)
	}
	return fmt.Sprintf("token endpoint: status %d, error %q", status, e.re.ErrorCode)
}

func (e idpError) Unwrap() error { return e.re }

// quietIdP replaces a token endpoint's error by an idpError; other errors
// are returned as they are.
func quietIdP(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return idpError{re}
	}
	return err
}
