// Package e2e drives Debian's headless Chromium through the browser login:
// the dev gateway with the real plugin, the OpenID provider standing in for
// Okta, and httpbin. Screenshots of the key pages go to artifacts/e2e.
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/okta-oidc/okta-oidc/test/idp"
	"github.com/okta-oidc/okta-oidc/test/stack"
)

var (
	gw        *stack.Stack
	chromium  string
	artifacts = filepath.Join(stack.Root(), "artifacts", "e2e")
)

// The browser suite runs the web route with a short idle timeout, no
// leeway and short-lived access tokens, so that renewal and expiry can be
// watched in seconds.
const (
	accessTTL   = 6 * time.Second
	idleTimeout = 12 // seconds
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	for _, c := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if c != "" {
			if _, err := os.Stat(c); err == nil {
				chromium = c
				break
			}
		}
	}
	if chromium == "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "e2e: chromium not found (apt-get install chromium); CI requires the browser suite")
			return 1
		}
		fmt.Println("SKIPPED SUITE: e2e: chromium not found (apt-get install chromium)")
		return 0
	}
	yml, err := e2eKongYML()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := stack.Options{KongYML: yml, AccessTokenTTL: accessTTL}
	if os.Getenv("STACK_LOG") != "" {
		opts.Log = os.Stderr
	}
	gw, err = stack.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the stack:", err)
		return 1
	}
	defer gw.Stop()
	_ = os.MkdirAll(artifacts, 0o755)
	return m.Run()
}

// e2eKongYML is the repository's kong.yml with the web route tuned for the
// clock-driven cases.
func e2eKongYML() (string, error) {
	b, err := os.ReadFile(filepath.Join(stack.Root(), "kong.yml"))
	if err != nil {
		return "", err
	}
	s := string(b)
	anchor := "        groups_required: [kong_group]\n        session_secret:"
	if !strings.Contains(s, anchor) {
		return "", fmt.Errorf("kong.yml's web route changed: update e2eKongYML")
	}
	s = strings.Replace(s, anchor, fmt.Sprintf("        groups_required: [kong_group]\n        leeway: 0\n        session_idling_timeout: %d\n        session_secret:", idleTimeout), 1)
	dir, err := os.MkdirTemp("", "okta-oidc-e2e-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "kong.yml")
	return p, os.WriteFile(p, []byte(s), 0o644)
}

// browser starts a fresh headless Chromium (empty profile) for one test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1100, 800),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelC := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 gives a PNG
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(artifacts, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

func navigate(t *testing.T, ctx context.Context, u string) *network.Response {
	t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		t.Fatalf("navigate %s: %v", u, err)
	}
	return resp
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func bodyText(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// onLoginPage reports whether the browser shows the provider's sign-in form.
func onLoginPage(t *testing.T, ctx context.Context) bool {
	t.Helper()
	loc := location(t, ctx)
	if !strings.HasPrefix(loc, gw.Issuer) || !strings.Contains(loc, "/interaction/") {
		return false
	}
	_, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`input[name="password"]`), chromedp.AtLeast(1)))
	return err == nil
}

// signIn opens page on the gateway, is sent to the provider, and signs in.
func signIn(t *testing.T, ctx context.Context, page, user, shot string) {
	t.Helper()
	navigate(t, ctx, gw.GatewayURL+page)
	if !onLoginPage(t, ctx) {
		screenshot(t, ctx, shot+"-not-login")
		t.Fatalf("opening %s did not lead to the provider's login page (at %s)", page, location(t, ctx))
	}
	screenshot(t, ctx, shot+"-login-page")
	err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), idp.Password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	if err != nil {
		t.Fatalf("filling the login form: %v", err)
	}
	waitFor(t, ctx, func(loc string) bool { return strings.HasPrefix(loc, gw.GatewayURL+page) }, "back on "+page)
}

func waitFor(t *testing.T, ctx context.Context, ok func(loc string) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		loc := location(t, ctx)
		if ok(loc) {
			// Let the page finish loading.
			_ = chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body")))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: still at %s", what, location(t, ctx))
}

func sessionCookie(t *testing.T, ctx context.Context) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{gw.GatewayURL + "/web/"}})
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, c := range res.Cookies {
		if c.Name == "okta_session" || strings.HasPrefix(c.Name, "okta_session_") && !strings.Contains(c.Name, "login") {
			if !c.HTTPOnly {
				t.Errorf("cookie %s is not HttpOnly", c.Name)
			}
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return strings.Join(parts, ";")
}

func TestAliceSignsInAndSeesHerIdentity(t *testing.T) {
	ctx := browser(t)
	signIn(t, ctx, "/web/anything?from=browser", idp.Alice, "alice")
	text := bodyText(t, ctx)
	screenshot(t, ctx, "alice-upstream-echo")
	for _, want := range []string{`"X-Authenticated-Groups"`, "kong_group, everyone", `"X-Authenticated-Userid"`, `"from"`} {
		if !strings.Contains(text, want) {
			t.Fatalf("httpbin's echo lacks %s:\n%.800s", want, text)
		}
	}
	// Reload: the session holds, no trip to the provider.
	resp := navigate(t, ctx, gw.GatewayURL+"/web/anything?reload=1")
	if resp.Status != 200 || !strings.HasPrefix(location(t, ctx), gw.GatewayURL+"/web/anything") {
		t.Fatalf("reload: status %d at %s", resp.Status, location(t, ctx))
	}
	// Logout ends the session at the gateway and at the provider.
	navigate(t, ctx, gw.GatewayURL+"/web/logout")
	waitFor(t, ctx, func(loc string) bool { return loc == gw.GatewayURL+"/web/signed-out" }, "the signed-out page")
	screenshot(t, ctx, "alice-signed-out")
	if title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#title"))); err != nil || title != "You are signed out" {
		t.Errorf("signed-out page title %q (%v)", title, err)
	}
	if c := sessionCookie(t, ctx); c != "" {
		t.Fatalf("session cookie survived logout: %s", c)
	}
	navigate(t, ctx, gw.GatewayURL+"/web/anything")
	if !onLoginPage(t, ctx) {
		t.Fatalf("after logout, revisiting went to %s, want the login page", location(t, ctx))
	}
	screenshot(t, ctx, "alice-login-again")
}

func TestBobGetsTheForbiddenPage(t *testing.T) {
	ctx := browser(t)
	signIn(t, ctx, "/web/anything", idp.Bob, "bob")
	screenshot(t, ctx, "bob-403")
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#title")))
	if err != nil || title != "Access denied" {
		t.Fatalf("title %q (%v); page:\n%s", title, err, bodyText(t, ctx))
	}
	who, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#who")))
	if !strings.Contains(who, idp.BobEmail) {
		t.Errorf("403 page does not say who is signed in: %q", who)
	}
	// The page's sign-out link works.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, func(loc string) bool { return loc == gw.GatewayURL+"/web/signed-out" }, "the signed-out page")
}

func TestAliceForbiddenOnAdmin(t *testing.T) {
	ctx := browser(t)
	signIn(t, ctx, "/admin/anything", idp.Alice, "alice-admin")
	screenshot(t, ctx, "alice-admin-403")
	if text := bodyText(t, ctx); !strings.Contains(text, "Access denied") || !strings.Contains(text, idp.AliceEmail) {
		t.Fatalf("admin page for alice:\n%s", text)
	}
}

func TestTamperedSessionLeadsBackToLogin(t *testing.T) {
	ctx := browser(t)
	signIn(t, ctx, "/web/anything", idp.Alice, "tamper")
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{gw.GatewayURL + "/web/"}})
	if err != nil {
		t.Fatal(err)
	}
	tampered := false
	for _, c := range res.Cookies {
		if c.Name != "okta_session" {
			continue
		}
		v := []byte(c.Value)
		i := len(v) / 2
		if v[i] == 'A' {
			v[i] = 'B'
		} else {
			v[i] = 'A'
		}
		_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
			Name: c.Name, Value: string(v), URL: gw.GatewayURL + "/", Path: "/", HTTPOnly: &c.HTTPOnly,
		})
		if err != nil {
			t.Fatal(err)
		}
		tampered = true
	}
	if !tampered {
		t.Fatal("no okta_session cookie to tamper with")
	}
	forgetProvider(t, ctx)
	navigate(t, ctx, gw.GatewayURL+"/web/anything")
	screenshot(t, ctx, "tampered-session")
	if !onLoginPage(t, ctx) {
		t.Fatalf("with a tampered session cookie the browser is at %s, want the login page", location(t, ctx))
	}
}

// forgetProvider deletes the provider's own cookies (they share the host
// with the gateway), so that a trip through login shows the login page
// instead of completing at once.
func forgetProvider(t *testing.T, ctx context.Context) {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{gw.Issuer + "/", gw.GatewayURL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range res.Cookies {
		if strings.HasPrefix(c.Name, "okta_session") {
			continue
		}
		if _, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: c.Name, Domain: c.Domain, Path: c.Path}); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("found no provider cookie to delete")
	}
}

func TestCallbackWithWrongStateIsRefused(t *testing.T) {
	ctx := browser(t)
	navigate(t, ctx, gw.GatewayURL+"/web/anything") // a genuine login attempt
	resp := navigate(t, ctx, gw.GatewayURL+"/web/callback?code=forged&state=forged")
	screenshot(t, ctx, "callback-wrong-state")
	if resp.Status < 400 || resp.Status > 499 {
		t.Fatalf("callback with a wrong state answered %d", resp.Status)
	}
	if c := sessionCookie(t, ctx); c != "" {
		t.Fatalf("a forged callback left a session: %s", c)
	}
	if text := bodyText(t, ctx); !strings.Contains(text, "Sign-in failed") {
		t.Fatalf("page:\n%s", text)
	}
}

func TestSessionRenewedThenEndsWhenIdle(t *testing.T) {
	ctx := browser(t)
	signIn(t, ctx, "/web/anything", idp.Alice, "clock")
	before := sessionCookie(t, ctx)
	time.Sleep(accessTTL + time.Second) // the access token has expired (leeway 0)
	resp := navigate(t, ctx, gw.GatewayURL+"/web/anything?renewed=1")
	if resp.Status != http.StatusOK || !strings.HasPrefix(location(t, ctx), gw.GatewayURL+"/web/anything") {
		t.Fatalf("after the access token expired: %d at %s, want a silent renewal", resp.Status, location(t, ctx))
	}
	after := sessionCookie(t, ctx)
	if after == before || after == "" {
		t.Fatal("the session cookie was not renewed with the refreshed token")
	}
	screenshot(t, ctx, "clock-renewed")
	time.Sleep(time.Duration(idleTimeout+1) * time.Second) // idle timeout passes
	forgetProvider(t, ctx)
	navigate(t, ctx, gw.GatewayURL+"/web/anything?idle=1")
	screenshot(t, ctx, "clock-idle-expired")
	if !onLoginPage(t, ctx) {
		t.Fatalf("an idle-expired session was still accepted: at %s", location(t, ctx))
	}
}
