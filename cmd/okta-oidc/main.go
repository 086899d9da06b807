// Command okta-oidc is a Kong plugin server (go-pdk): Kong starts it and
// drives it over a Unix socket. It validates Okta-issued JWTs, enforces a
// group policy and logs browsers in with authorization code + PKCE.
//
//	okta-oidc -dump              print the plugin info Kong reads
//	okta-oidc -validate kong.yml check every okta-oidc entry of a declarative config
//	okta-oidc -lua-schema        print schema.lua for Konnect / hybrid control planes
//	okta-oidc -kong-prefix DIR   serve on DIR/okta-oidc.socket (default /usr/local/kong)
//	okta-oidc -metrics-addr H:P  also serve Prometheus metrics at http://H:P/metrics
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

func runValidate(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "okta-oidc: %v\n", err)
		return 2
	}
	res, err := config.ValidateDeclarative(data, "okta-oidc")
	if err != nil {
		fmt.Fprintf(os.Stderr, "okta-oidc: %s: %v\n", path, err)
		return 1
	}
	for _, p := range res.Problems {
		fmt.Fprintf(os.Stderr, "%s: %s\n", path, p)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(os.Stderr, "%s: %d problem(s) in %d okta-oidc plugin entr(ies)\n", path, len(res.Problems), res.Entries)
		return 1
	}
	fmt.Printf("%s: %d okta-oidc plugin entr(ies) OK\n", path, res.Entries)
	return 0
}

// dumping reports whether go-pdk's -dump flag is set: Kong runs the query
// command while the server may be running, and it must not bind the port.
func dumping() bool {
	f := flag.Lookup("dump")
	return f != nil && f.Value.String() == "true"
}
