FROM alpine
SHELL /bin/sh -c
