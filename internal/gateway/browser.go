package gateway

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/okta-oidc/okta-oidc/internal/token"
)

// isNavigation reports whether a request without credentials looks like a
// person's browser loading a page (and so may be redirected to login), as
// opposed to an API client, XHR or fetch, which get a 401.
func isNavigation(method string, h http.Header) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if len(h.Values("Authorization")) > 0 || h.Get("X-Requested-With") != "" {
		return false
	}
	if m := h.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return false
	}
	if d := h.Get("Sec-Fetch-Dest"); d != "" && d != "document" {
		return false
	}
	return acceptsHTML(h)
}

// acceptsHTML reports whether Accept names text/html with a non-zero q.
func acceptsHTML(h http.Header) bool {
	for _, line := range h.Values("Accept") {
		for _, rng := range strings.Split(line, ",") {
			parts := strings.Split(rng, ";")
			if !strings.EqualFold(strings.TrimSpace(parts[0]), "text/html") {
				continue
			}
			q := 1.0
			for _, p := range parts[1:] {
				if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
					if f, err := strconv.ParseFloat(v, 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

// loginHint is the 401 body for XHR and fetch requests on a route with
// login: it tells a single-page app where to send the user.
func loginHint(loginURL string) []byte {
	b, _ := json.Marshal(map[string]string{"message": "Unauthorized", "login_url": loginURL})
	return b
}

var forbiddenTmpl = template.Must(template.New("403").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Access denied</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}a.button{display:inline-block;padding:.5rem 1rem;border:1px solid #444;border-radius:4px;text-decoration:none;color:#222}</style>
</head><body>
<h1 id="title">Access denied</h1>
<p id="who">You are signed in as <strong>{{.Who}}</strong>, but your account is not allowed to open this page.</p>
<p>If you think you should have access, ask your administrator to add you to the right group.</p>
<p><a class="button" id="signout" href="{{.Logout}}">Sign out</a></p>
</body></html>
`))

// forbiddenPage is the 403 page for browsers: who is signed in and how to
// sign out.
func forbiddenPage(c token.Claims, logoutPath string) []byte {
	who := c.String("email")
	for _, k := range []string{"name", "preferred_username", "sub"} {
		if who != "" {
			break
		}
		who = c.String(k)
	}
	if who == "" {
		who = "an unknown user"
	}
	var b strings.Builder
	_ = forbiddenTmpl.Execute(&b, struct{ Who, Logout string }{who, logoutPath})
	return []byte(b.String())
}

// signedOutPage is what signed_out_path answers: where the browser lands
// after logout (logout_redirect_uri pointing at it). A fixed page: it reads
// no cookie and passes nothing upstream.
var signedOutPage = []byte(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.5rem}</style>
</head><body>
<h1 id="title">You are signed out</h1>
<p id="why">Your session has ended here and at the sign-in service. You can close this window.</p>
</body></html>
`)

var failedTmpl = template.Must(template.New("login-failed").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}</style>
</head><body>
<h1 id="title">Sign-in failed</h1>
<p id="why">{{.}}</p>
<p><a href="/">Start again</a></p>
</body></html>
`))

func failedPage(why string) []byte {
	var b strings.Builder
	_ = failedTmpl.Execute(&b, why)
	return []byte(b.String())
}

// unavailablePage is the 503 page for browsers.
var unavailablePage = []byte(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in unavailable</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}</style>
</head><body>
<h1 id="title">Sign-in unavailable</h1>
<p id="why">The sign-in service is unavailable, try again shortly.</p>
<p>Reload this page in a few seconds.</p>
</body></html>
`)
