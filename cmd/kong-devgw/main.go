// Command kong-devgw is a development and test gateway that drives go-pdk
// plugin servers the way Kong 3.9 does. It is not a production gateway; see
// internal/devgw (and its DIFFERENCES.md) for what it emulates.
//
// Usage:
//
//	KONG_PLUGINS=bundled,okta-oidc KONG_PLUGINSERVER_NAMES=okta-oidc \
//	KONG_PLUGINSERVER_OKTA_OIDC_START_CMD="/path/okta-oidc -kong-prefix /tmp/kp" \
//	KONG_PLUGINSERVER_OKTA_OIDC_QUERY_CMD="/path/okta-oidc -dump" \
//	kong-devgw -config kong.yml -listen 127.0.0.1:8000 -prefix /tmp/kp
//
// SIGHUP re-reads the configuration; SIGTERM/SIGINT stop the gateway and
// its plugin servers.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/devgw"
)

func main() {
	os.Exit(run())
}

func run() int {
	defConfig := os.Getenv("KONG_DECLARATIVE_CONFIG")
	if defConfig == "" {
		defConfig = "kong.yml"
	}
	config := flag.String("config", defConfig, "declarative configuration file (kong.yml, _format_version \"3.0\")")
	listen := flag.String("listen", "127.0.0.1:8000", "proxy listen address")
	prefix := flag.String("prefix", "", "Kong prefix (default sockets <prefix>/<name>.socket); default $KONG_PREFIX or a temporary directory")
	workers := flag.Int("workers", 2, "number of emulated nginx workers")
	trusted := flag.String("trusted-ips", "", "comma-separated trusted IPs/CIDRs (default $KONG_TRUSTED_IPS, else none)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, notice, warn, error, crit, alert")
	timeout := flag.Duration("timeout", 60*time.Second, "plugin server socket connect/send/read timeout")
	retries := flag.Int("max-event-retries", 3, "re-runs of an event after a closed connection before failing with 500 (Kong: unbounded)")
	headerBuffers := flag.String("large-client-header-buffers", "", "nginx's large_client_header_buffers, e.g. \"4 16k\" (default $KONG_NGINX_PROXY_LARGE_CLIENT_HEADER_BUFFERS, else \"4 8k\")")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "Error: unexpected arguments: %s\n", strings.Join(flag.Args(), " "))
		return 2
	}

	var trustedIPs []string
	if *trusted != "" {
		trustedIPs = strings.Split(*trusted, ",")
	}
	gw, err := devgw.New(devgw.Options{
		ConfigPath:      *config,
		Listen:          *listen,
		Prefix:          *prefix,
		Workers:         *workers,
		TrustedIPs:      trustedIPs,
		Log:             os.Stderr,
		LogLevel:        *logLevel,
		Timeout:         *timeout,
		MaxEventRetries: *retries,

		LargeClientHeaderBuffers: *headerBuffers,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return 1
	}
	if err := gw.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		gw.Close()
		return 1
	}
	fmt.Printf("ready %s\n", gw.URL())

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			if err := gw.Reload(); err != nil {
				fmt.Fprintf(os.Stderr, "Error: reload failed, keeping the running configuration: %v\n", err)
			}
			continue
		}
		break
	}
	signal.Stop(sigs)
	gw.Close()
	return 0
}
