FROM a
ENV C=trailing\\
ENV D=separate
RUN echo \\ \
  continued
