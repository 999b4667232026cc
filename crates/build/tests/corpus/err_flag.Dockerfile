FROM alpine
COPY --form=x a b
