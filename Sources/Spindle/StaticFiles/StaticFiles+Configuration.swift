extension StaticFiles {
    /// How `StaticFiles` serves its directory. The defaults serve `index.html` for directories,
    /// hide dotfiles, send no `Cache-Control` and no precompressed files, read 64 KiB at a
    /// time, and keep files up to 64 KiB in memory for a second (16 MiB per worker at most).
    public struct Configuration: Sendable {
        /// The `Cache-Control` value of every file response and `304` (nil, the default: none,
        /// so caches revalidate with `ETag`/`Last-Modified` as they see fit). For fingerprinted
        /// assets, `"public, max-age=31536000, immutable"`.
        public var cacheControl: String?
        /// The file served for a directory URL ending in `/` (nil: directories are not served).
        /// A single file name. Default `index.html`.
        public var indexFile: String?
        /// Serve `name.gz` instead of `name`, with `Content-Encoding: gzip`, when it exists next
        /// to it and the request's `Accept-Encoding` allows gzip. Every file response then says
        /// `Vary: Accept-Encoding`. Costs one more `open` per request that allows gzip. Default
        /// false.
        public var servesPrecompressedGzip: Bool
        /// Serve names that start with a dot (`.env`, `.git/…`, `.well-known/…`); by default
        /// they are hidden (answered as missing), also when a symbolic link leads to them.
        public var servesDotFiles: Bool
        /// Bytes read from a file at a time: the memory one transfer holds (besides the
        /// connection's output buffer), whatever the file's size. Files (and ranges) up to this
        /// size are read whole and sent with `Content-Length`; larger ones are streamed (see
        /// `StaticFiles`). Default 64 KiB; at least 1.
        public var chunkSize: Int
        /// How long a worker keeps a small file it has read, and answers from memory without
        /// looking at the disk (`StaticFileCache`): a file changed on disk is served as it was
        /// for at most this long. `.zero` turns the cache off. Default 1 second.
        public var cacheValidity: Duration
        /// The largest file kept in memory (default 64 KiB); larger ones are read per request.
        public var cachedFileSizeLimit: Int
        /// The most bytes of files one worker keeps in memory (default 16 MiB).
        public var cacheSizeLimit: Int
        /// `Content-Type` by lowercase extension (default `MediaTypes.common`); other
        /// extensions get `MediaTypes.fallback`.
        public var mediaTypes: [String: String]

        /// A configuration; every argument has the default described on its property.
        public init(cacheControl: String? = nil, indexFile: String? = "index.html", servesPrecompressedGzip: Bool = false,
                    servesDotFiles: Bool = false, chunkSize: Int = 64 << 10, mediaTypes: [String: String] = MediaTypes.common,
                    cacheValidity: Duration = .seconds(1), cachedFileSizeLimit: Int = 64 << 10, cacheSizeLimit: Int = 16 << 20) {
            self.cacheControl = cacheControl
            self.indexFile = indexFile
            self.servesPrecompressedGzip = servesPrecompressedGzip
            self.servesDotFiles = servesDotFiles
            self.chunkSize = chunkSize
            self.mediaTypes = mediaTypes
            self.cacheValidity = cacheValidity
            self.cachedFileSizeLimit = cachedFileSizeLimit
            self.cacheSizeLimit = cacheSizeLimit
        }
    }
}
