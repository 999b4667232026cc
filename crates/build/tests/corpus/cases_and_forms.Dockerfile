from alpine as Base
Run ["echo", "hi"]
cMd echo "not json
ENTRYPOINT ["a", 
RUN [ "a" ] trailing
EXPOSE   8080    9090
ENV a="b c" d=e\ f
ARG A B=2 C="x y"
