# echo-server for people with Docker; `make images` builds the same image
# without Docker (k8s/cmd/images). Build from the repository root:
#   docker build -f k8s/images/echo-server.Dockerfile -t docker.io/spread/echo-server:dev .
FROM golang:1.26 AS build
WORKDIR /src
COPY . .
# Static (no cgo), so it runs on an empty base.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" \
        -o /out/echo-server ./echo-server/cmd/echo-server \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /out/passwd \
    && printf 'root:x:0:\nnonroot:x:65532:\n' > /out/group \
    && mkdir -p /out/tmp /out/home/nonroot && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/tmp /tmp
COPY --from=build --chown=65532:65532 /out/home/nonroot /home/nonroot
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/echo-server /usr/local/bin/echo-server
USER 65532:65532
WORKDIR /home/nonroot
ENV HOME=/home/nonroot
EXPOSE 5080/tcp 5443/tcp 5443/udp 9090/tcp
ENTRYPOINT ["/usr/local/bin/echo-server"]
