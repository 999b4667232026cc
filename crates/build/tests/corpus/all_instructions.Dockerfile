# syntax=docker/dockerfile:1.7
# check=skip=all
ARG BASE=alpine:3.20
ARG VERSION
FROM --platform=$BUILDPLATFORM ${BASE} AS Build
ARG VERSION
ENV PATH=/opt/bin:$PATH HOME="/home/app user"
ENV LEGACY value with  spaces
LABEL org.opencontainers.image.title="berth" version=1
WORKDIR /src
USER app:app
EXPOSE 80 443/tcp 53/udp
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp/x
STOPSIGNAL SIGTERM
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
MAINTAINER Jane <jane@example.com>
CMD ["serve", "--port", "80"]
ENTRYPOINT exec /bin/app
FROM build
COPY --from=build --chown=1000:1000 --chmod=0755 --link /out/app /usr/bin/
ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false https://example.com/a.tgz /x/
COPY --parents --exclude=*.md --exclude=tmp ./a ./b /dst/
ONBUILD RUN make
ONBUILD COPY . /app
HEALTHCHECK --interval=30s --timeout=3s --start-period=1m --start-interval=5s --retries=3 CMD curl -f http://localhost/ || exit 1
FROM scratch
HEALTHCHECK NONE
healthcheck CMD ["/bin/check", "--fast"]
cmd []
