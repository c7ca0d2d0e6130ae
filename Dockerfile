# The one arkive image: operator, worker, run and the storage tools are subcommands.
#   docker build -t arkive .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/arkive ./cmd/arkive

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/arkive /arkive
USER 65532:65532
ENTRYPOINT ["/arkive"]
