FROM alpine
RUN apk add \
    # a comment inside a continued line
    curl \

    git \
  && echo done
RUN echo one \   
  two
RUN \
