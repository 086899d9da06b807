// Command okta-oidc is a Kong plugin server (go-pdk): Kong starts it and
// drives it over a Unix socket. It validates Okta-issued JWTs, enforces a
// group policy and logs browsers in with authorization code + PKCE.
//
//	okta-oidc -dump              print the plugin info Kong reads
//	okta-oidc -validate kong.yml check every okta-oidc entry of a declarative config
//	okta-oidc -lua-schema        print schema.lua for Konnect / hybrid control planes
//	okta-oidc -kong-prefix DIR   serve on DIR/okta-oidc.socket (default /usr/local/kong)
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/Kong/go-pdk/server"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/kongplugin"
)

func main() {
	validate := flag.String("validate", "", "check the okta-oidc entries of a declarative kong.yml and exit")
	version := flag.Bool("version", false, "print the version and exit")
	luaSchema := flag.Bool("lua-schema", false, "print the schema as a Kong Lua schema.lua (for Konnect and hybrid control planes) and exit")
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
