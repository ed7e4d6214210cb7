# Build a static binary, then ship it alone in a minimal non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /redverb ./cmd/redverb

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /redverb /redverb
USER nonroot:nonroot
EXPOSE 6380
# Listening on all interfaces turns protected mode on: set REDVERB_REQUIREPASS
# (or REDVERB_PROTECTED_MODE=no on a private network) and REDVERB_BACKEND.
ENV REDVERB_LISTEN=0.0.0.0:6380
ENTRYPOINT ["/redverb"]
