// Command okta-oidc is a Kong plugin server (go-pdk): Kong starts it and
// drives it over a Unix socket. It validates Okta-issued JWTs, enforces a
// group policy and logs browsers in with authorization code + PKCE.
//
//	okta-oidc -dump              print the plugin info Kong reads
//	okta-oidc -validate kong.yml check every okta-oidc entry of a declarative config
//	okta-oidc doctor kong.yml    check each entry against its live issuer (and a token)
//	okta-oidc -lua-schema        print schema.lua for Konnect / hybrid control planes
//	okta-oidc -kong-prefix DIR   serve on DIR/okta-oidc.socket (default /usr/local/kong)
//	okta-oidc -metrics-addr H:P  also serve Prometheus metrics at http://H:P/metrics
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Kong/go-pdk/server"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/doctor"
	"github.com/okta-oidc/okta-oidc/internal/kongplugin"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "doctor" {
		os.Exit(runDoctor(os.Args[2:], os.Stdout, os.Stderr))
	}
	validate := flag.String("validate", "", "check the okta-oidc entries of a declarative kong.yml and exit")
	version := flag.Bool("version", false, "print the version and exit")
	luaSchema := flag.Bool("lua-schema", false, "print the schema as a Kong Lua schema.lua (for Konnect and hybrid control planes) and exit")
	metricsAddr := flag.String("metrics-addr", "", "serve Prometheus metrics on host:port at /metrics (off when empty)")
	flag.Parse()
	switch {
	case *version:
		fmt.Println("okta-oidc", kongplugin.Version)
		return
	case *luaSchema:
		fmt.Print(config.LuaSchema("okta-oidc"))
		return
	case *validate != "":
		os.Exit(runValidate(*validate))
	}
	if *metricsAddr != "" && !dumping() {
		addr, err := kongplugin.ServeMetrics(*metricsAddr)
		if err != nil {
			log.Fatalf("okta-oidc: %v", err)
		}
		log.Printf("okta-oidc: metrics on http://%s/metrics", addr)
	}
	if err := server.StartServer(kongplugin.New, kongplugin.Version, kongplugin.Priority); err != nil {
		log.Fatalf("okta-oidc: %v", err)
	}
}

// Exit codes of -validate and doctor: 0 all good; 1 the file (or the
// setup) has problems, each printed; 2 the file could not be read or parsed
// as YAML, or the command line is wrong.
const (
	exitOK       = 0
	exitProblems = 1
	exitUsage    = 2
)

func runValidate(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "okta-oidc: %v\n", err)
		return exitUsage
	}
	res, err := config.ValidateDeclarative(data, "okta-oidc")
	if err != nil {
		fmt.Fprintf(os.Stderr, "okta-oidc: %s: %v\n", path, err)
		return exitUsage
	}
	for _, p := range res.Problems {
		fmt.Fprintf(os.Stderr, "%s: %s\n", path, p)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(os.Stderr, "%s: %s in %s\n", path, plural(len(res.Problems), "problem", "problems"), plural(res.Entries, "okta-oidc plugin entry", "okta-oidc plugin entries"))
		return exitProblems
	}
	fmt.Printf("%s: %s OK\n", path, plural(res.Entries, "okta-oidc plugin entry", "okta-oidc plugin entries"))
	return exitOK
}

// plural writes "1 entry" or "3 entries".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

const doctorUsage = `usage: okta-oidc doctor [flags] kong.yml

Checks each okta-oidc entry against its live issuer: discovery and keys,
org vs custom authorization server, redirect URI, session secret, TLS; and,
given an access token (or a client to get one), the claims the config uses.
One line per finding with its fix. Exit 0: no error (warnings allowed);
1: errors found; 2: kong.yml unreadable or bad usage.

flags:
`

func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, doctorUsage); fs.PrintDefaults() }
	tokenFile := fs.String("token-file", "", "file holding an access token to inspect (- for stdin); or set OKTA_OIDC_TOKEN")
	clientID := fs.String("client-id", "", "get a token with client_credentials as this client (secret in OKTA_OIDC_CLIENT_SECRET)")
	scope := fs.String("scope", "", "scopes to ask for with -client-id, space-separated")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of each call to the issuer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	path := fs.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "okta-oidc: %v\n", err)
		return exitUsage
	}
	o := doctor.Options{HTTPClient: &http.Client{Timeout: *timeout}, Token: os.Getenv("OKTA_OIDC_TOKEN"),
		ClientID: *clientID, ClientSecret: os.Getenv("OKTA_OIDC_CLIENT_SECRET"), Scope: *scope}
	if *tokenFile != "" {
		var b []byte
		if *tokenFile == "-" {
			b, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		} else {
			b, err = os.ReadFile(*tokenFile)
		}
		if err != nil {
			fmt.Fprintf(stderr, "okta-oidc: %v\n", err)
			return exitUsage
		}
		o.Token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "Bearer "))
	}
	if o.Token != "" && o.ClientID != "" {
		fmt.Fprintln(stderr, "okta-oidc: doctor: give a token or -client-id, not both")
		return exitUsage
	}
	if o.ClientID != "" && o.ClientSecret == "" {
		fmt.Fprintln(stderr, "okta-oidc: doctor: -client-id needs OKTA_OIDC_CLIENT_SECRET")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	findings, err := doctor.Run(ctx, data, o)
	if err != nil {
		fmt.Fprintf(stderr, "okta-oidc: %s: %v\n", path, err)
		return exitUsage
	}
	errs, warns := 0, 0
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
		switch f.Severity {
		case doctor.Error:
			errs++
		case doctor.Warn:
			warns++
		}
	}
	fmt.Fprintf(stdout, "%s: %s, %s\n", path, plural(errs, "error", "errors"), plural(warns, "warning", "warnings"))
	if errs > 0 {
		return exitProblems
	}
	return exitOK
}

// dumping reports whether go-pdk's -dump flag is set: Kong runs the query
// command while the server may be running, and it must not bind the port.
func dumping() bool {
	f := flag.Lookup("dump")
	return f != nil && f.Value.String() == "true"
}
