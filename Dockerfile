# Kong 3.9 with the okta-oidc plugin server.
#
#   docker build -t kong-okta-oidc .
#
# Kong 3.8+ is required (3.4-3.7 let requests through when a plugin server
# fails); 3.9.x is the target.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
RUN CGO_ENABLED=0 go build -buildvcs=false -trimpath -ldflags="-s -w" -o /out/okta-oidc ./cmd/okta-oidc \
 && /out/okta-oidc -dump >/dev/null

FROM kong:3.9.1
USER root
COPY --from=build /out/okta-oidc /usr/local/bin/okta-oidc
USER kong
# The plugin name Kong sees is the binary's base name (okta-oidc). Commands
# use absolute paths (Kong starts them with a limited PATH); the socket is set
# explicitly and matches -kong-prefix, so Kong and the server always agree.
ENV KONG_PLUGINS=bundled,okta-oidc \
    KONG_PLUGINSERVER_NAMES=okta-oidc \
    KONG_PLUGINSERVER_OKTA_OIDC_SOCKET=/usr/local/kong/okta-oidc.socket \
    KONG_PLUGINSERVER_OKTA_OIDC_START_CMD="/usr/local/bin/okta-oidc -kong-prefix /usr/local/kong" \
    KONG_PLUGINSERVER_OKTA_OIDC_QUERY_CMD="/usr/local/bin/okta-oidc -dump"
