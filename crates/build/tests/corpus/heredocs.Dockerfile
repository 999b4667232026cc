FROM alpine
RUN <<EOF
apk add curl
echo "$HOME"
EOF
RUN <<-"SCRIPT" bash
		echo tabs gone
	SCRIPT
RUN python3 <<PY 3<<OUT > /dev/null
print(1)
PY
second
OUT
COPY <<one.txt <<-two.txt /etc/
first
one.txt
	second
	two.txt
ADD <<EOF /x
EOF
RUN ["sh", "-c", "cat <<EOF"]
RUN echo "<<NOT" a
