package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/consumer"
	"github.com/okta-oidc/okta-oidc/internal/policy"
)

// Kong's identity model: what a pass hands to Kong besides upstream headers
// (kong.client.authenticate, kong.ctx.shared.authenticated_groups) and the
// headers Kong's own auth plugins set (key-auth's set_consumer in Kong
// 3.9.1, kong/plugins/key-auth/handler.lua).

const (
	// ReasonAnonymous: no valid credentials; passed as the anonymous consumer.
	ReasonAnonymous Reason = "anonymous"
	// ReasonEarlierCredential: an earlier auth plugin authenticated a
	// credential and anonymous is set (Kong's "logical OR"): nothing to do.
	ReasonEarlierCredential Reason = "authenticated_earlier"
	// ReasonNoConsumer: a valid token whose consumer_claim names no consumer.
	ReasonNoConsumer Reason = "consumer_not_found"
)

// Identity is what the adapter hands to kong.client.authenticate.
type Identity struct {
	// Consumer is the consumer (nil: authenticate a credential only).
	Consumer *consumer.Consumer
	// CredentialID identifies the token's issuer and subject; "" for the
	// anonymous consumer (Kong's auth plugins pass no credential then).
	CredentialID string
	// Anonymous is true for the anonymous consumer.
	Anonymous bool
}

// Kong's consumer headers (kong/constants.lua HEADERS).
const (
	headerConsumerID       = "X-Consumer-ID"
	headerConsumerCustomID = "X-Consumer-Custom-ID"
	headerConsumerUsername = "X-Consumer-Username"
	headerCredential       = "X-Credential-Identifier"
	headerAnonymous        = "X-Anonymous-Consumer"
)

// earlierCredential implements Kong's logical OR: with anonymous set, a
// request another auth plugin already authenticated (kong.client
// .get_credential) is left to it. The pass still clears this plugin's
// identity headers and every "_" spelling of Kong's consumer headers, but
// never the consumer headers the earlier plugin set.
func (e *Engine) earlierCredential(r *Request) (Decision, bool) {
	if e.cfg.Identity.Anonymous == "" {
		return Decision{}, false
	}
	if r.Credential == nil {
		return Internal(errors.New("gateway: anonymous needs kong.client.get_credential")), true
	}
	has, err := r.Credential()
	if err != nil {
		return Internal(fmt.Errorf("reading the authenticated credential: %w", err)), true
	}
	if !has {
		return Decision{}, false
	}
	if own, err := e.ownPath(r); err != nil {
		return Internal(err), true
	} else if own {
		// Logout, the login callback, the signed-out page and back-channel
		// logout are this plugin's to answer, whoever authenticated first:
		// a logout proxied upstream would leave the session alive.
		return Decision{}, false
	}
	d := e.pass(ReasonEarlierCredential, nil, r, nil)
	for k := range d.Upstream {
		for _, h := range consumerHeaders {
			if strings.EqualFold(k, h) {
				delete(d.Upstream, k)
			}
		}
	}
	return d, true
}

// identify adds Kong's identity to a decision: the mapped consumer and the
// authenticated groups on a pass with claims, and the anonymous consumer in
// place of a 401 for missing or invalid credentials. Everything else (403, redirects to login, 400, 5xx) is
// left as it is: anonymous never bypasses the policy.
func (e *Engine) identify(ctx context.Context, r *Request, d Decision) Decision {
	id := e.cfg.Identity
	if !id.Enabled() {
		return d
	}
	switch {
	case d.Action == Pass && d.claims != nil:
		return e.identifyPass(ctx, r, d)
	case id.Anonymous != "" && d.Action == Respond && d.Status == http.StatusUnauthorized &&
		(d.Reason == ReasonNoCredentials || d.Reason == ReasonTokenInvalid):
		// Only "no or no valid credentials": a failed login callback
		// (also a 401) stays an answer, never an anonymous pass.
		return e.anonymous(ctx, r, d)
	}
	return d
}

func (e *Engine) identifyPass(ctx context.Context, r *Request, d Decision) Decision {
	id := e.cfg.Identity
	claims := d.claims
	if id.GroupsClaim != nil {
		groups := []string{}
		if v, ok := policy.Lookup(claims, id.GroupsClaim); ok {
			vals, ok := policy.Values(v)
			if !ok {
				// a claim acl cannot read as groups: refused rather than
				// passed with none (a deny list would let it through)
				f := e.forbidden(r, ReasonForbidden, claims)
				f.Subject, f.Detail = d.Subject, "authenticated_groups_claim "+id.GroupsClaim.String()+" is not a string or a list of strings"
				return f
			}
			groups = vals
		}
		d.AuthenticatedGroups = groups
	}
	if !id.Authenticates() {
		return d
	}
	subject := firstString(claims, "sub", "cid", "client_id")
	if subject == "" {
		f := e.forbidden(r, ReasonNoConsumer, claims)
		f.Detail = "the token has no sub, cid or client_id to name a credential"
		return f
	}
	ident := &Identity{CredentialID: consumer.CredentialID(e.cfg.Issuer, subject)}
	if id.ConsumerClaim != nil {
		value, _ := policy.Lookup(claims, id.ConsumerClaim)
		s, _ := value.(string) // anything but a string never reaches a lookup
		c, found, err := e.consumers.Find(ctx, r.Consumers, s, consumer.By{ID: id.ByID, Username: id.ByUsername})
		if err != nil {
			return Internal(err)
		}
		switch {
		case found:
			ident.Consumer = &c
		case !id.ConsumerOptional:
			f := e.forbidden(r, ReasonNoConsumer, claims)
			f.Subject, f.Detail = d.Subject, "consumer_claim "+id.ConsumerClaim.String()+" names no Kong consumer"
			return f
		}
	}
	d.Identity = ident
	setConsumerHeaders(d.Upstream, ident)
	return d
}

// anonymous turns a 401 into a pass as the anonymous consumer. A missing
// anonymous consumer is a 500 (like Kong's auth plugins), never a pass.
func (e *Engine) anonymous(ctx context.Context, r *Request, denied Decision) Decision {
	name := e.cfg.Identity.Anonymous
	c, found, err := e.consumers.Load(ctx, r.Consumers, name)
	if err != nil {
		return Internal(err)
	}
	if !found {
		return Internal(fmt.Errorf("anonymous: consumer %q not found", name))
	}
	var keep http.Header
	if cookies := denied.Header.Values("Set-Cookie"); len(cookies) > 0 {
		keep = http.Header{"Set-Cookie": cookies} // e.g. clearing a broken session
	}
	d := e.pass(ReasonAnonymous, nil, r, keep)
	if e.cfg.HideCredentials && len(r.Header.Values("Authorization")) > 0 {
		d.Upstream["Authorization"] = []string{} // an invalid token is a credential too
	}
	ident := &Identity{Consumer: &c, Anonymous: true}
	d.Identity = ident
	setConsumerHeaders(d.Upstream, ident)
	return d
}

// setConsumerHeaders sets Kong's consumer headers as key-auth's
// set_consumer does: each set or cleared, X-Anonymous-Consumer "true" only
// without a credential. Client spellings differing only in case are
// replaced, so set_headers never gets two names for one header.
func setConsumerHeaders(up map[string][]string, id *Identity) {
	var c consumer.Consumer
	if id.Consumer != nil {
		c = *id.Consumer
	}
	put := func(name, v string) {
		for k := range up {
			if strings.EqualFold(k, name) {
				delete(up, k)
			}
		}
		if v == "" {
			up[name] = []string{}
		} else {
			up[name] = []string{v}
		}
	}
	put(headerConsumerID, c.ID)
	put(headerConsumerCustomID, c.CustomID)
	put(headerConsumerUsername, c.Username)
	put(headerCredential, id.CredentialID)
	anon := ""
	if id.Anonymous {
		anon = "true"
	}
	put(headerAnonymous, anon)
}

func firstString(claims map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := claims[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// ownPath reports whether r targets one of the paths this plugin answers
// itself on a login route (one more PDK call, paid only there).
func (e *Engine) ownPath(r *Request) (bool, error) {
	if e.codec == nil {
		return false, nil
	}
	target, err := r.Target()
	if err != nil {
		return false, err
	}
	path, _ := splitTarget(target)
	switch {
	case path == e.cfg.LogoutPath,
		e.cfg.Has(config.MethodAuthorizationCode) && path == e.cfg.RedirectURI.Path,
		e.cfg.SignedOutPath != "" && path == e.cfg.SignedOutPath,
		e.logoutTokens != nil && path == e.cfg.BackchannelLogoutPath:
		return true, nil
	}
	return false, nil
}
