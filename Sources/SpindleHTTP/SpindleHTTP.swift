// SpindleHTTP: the HTTP/1.1 protocol core (parser, serializer, limits), independent of I/O.
