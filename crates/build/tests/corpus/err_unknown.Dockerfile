FROM alpine
RUN true
FOO bar
