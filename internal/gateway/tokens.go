package gateway

import (
	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/session"
	"github.com/okta-oidc/okta-oidc/internal/sessionstore"
)

// newStore picks the session store session_storage names.
func newStore(cfg *config.Config, d Deps, codec *session.Codec) (sessionstore.Store, error) {
	if d.Store != nil {
		return d.Store, nil
	}
	if cfg.SessionStorage != config.StorageRedis {
		return &sessionstore.Cookie{Codec: codec, Name: cfg.Cookie.Name}, nil
	}
	return sessionstore.NewRedis(sessionstore.RedisOptions{
		Settings: cfg.Redis, Secrets: cfg.SessionSecrets, Issuer: cfg.Issuer, ClientID: cfg.ClientID,
		CookieName: cfg.Cookie.Name, Absolute: cfg.AbsoluteTimeout, Rand: d.Rand, Now: d.Now,
	})
}

// forwardTokens puts the tokens of a pass into the upstream headers
// upstream_access_token_header and upstream_id_token_header name. Only
// tokens the plugin verified (a bearer token) or obtained itself from the
// token endpoint (a session's) ever reach it; an empty token leaves the
// header cleared (pass clears it), except Authorization, which it never
// clears on its own.
func (e *Engine) forwardTokens(d *Decision, access, id string) {
	if d.Action != Pass {
		return
	}
	for _, f := range []struct {
		th  config.TokenHeader
		tok string
	}{{e.cfg.UpstreamAccessToken, access}, {e.cfg.UpstreamIDToken, id}} {
		if f.th.Header == "" || f.tok == "" {
			continue
		}
		if d.Upstream == nil {
			d.Upstream = map[string][]string{}
		}
		d.Upstream[f.th.Header] = []string{f.th.Value(f.tok)}
	}
}
