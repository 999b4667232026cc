  FROM   alpine  
RUN echo crlf \
  joined
	# indented comment
