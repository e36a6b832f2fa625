import HTTPTypes
import SpindleHTTP
import SpindleIO
import SpindleFibers
import SpindleMemory

/// Serves the files of a directory under a URL prefix: as middleware (a matching file is
/// answered, anything else goes on to `next`) or as the handler of a wildcard route.
///
///     let assets = try StaticFiles(root: "public", urlPrefix: "/assets")
///     router.add(middleware: assets)                  // GET /assets/app.js → public/app.js
///     // or, as a route:   router.get("/assets/*", assets.handler)
///
/// For `GET` and `HEAD`: `Content-Type` from the extension (`MediaTypes`), `ETag` (strong:
/// inode, size, modification time) and `Last-Modified`; `304 Not Modified` for
/// `If-None-Match` (a list or `*`, weak comparison) or, without it, `If-Modified-Since`;
/// one `Range: bytes=…` (`a-b`, `a-`, `-n`) answered `206` with `Content-Range`, `If-Range`
/// honoured, an unsatisfiable one `416` with `Content-Range: bytes */size`, several ranges
/// answered with the whole file (`200`); `Accept-Ranges: bytes`; `index.html` for a directory
/// URL ending in `/`, and `301` to that form for one without it; optional precompressed `.gz`
/// siblings and `Cache-Control` (`Configuration`).
///
/// Never outside the root: the path is decoded one segment at a time and a path with a
/// dot-segment (`..`, `%2e%2e`, `.%2E`), an encoded slash (`%2f`), a backslash, NUL (`%00`) or
/// another control character, bad percent-encoding or a name that is not UTF-8 is refused with
/// `400 Bad Request`. What such checks cannot see — a symbolic link leading out of the root, or
/// to a dotfile — is refused after opening, from where the open file really is
/// (`StaticFileRoot`), and answered as missing, as are dotfiles (`.env`, `.git/…`, unless
/// `servesDotFiles`) and anything neither a regular file nor a directory. Missing means `404
/// Not Found` from the handler; the middleware calls `next` (and the router's 404 follows when
/// no route matches).
///
/// Memory per transfer is bounded by `chunkSize` (64 KiB) whatever the file's size: larger
/// files and ranges are read and sent a chunk at a time, chunked (see `FileBody` for framing
/// and for files that change while sent). Cost per request: an `open`, `statx` and `close`
/// (a second `open` for a directory's index or a `.gz` sibling), a `readlink` of
/// `/proc/self/fd`, and a read per chunk; each parks the fiber (io_uring, or the offload pool
/// on epoll), none blocks the worker thread. Needs `/proc` (without it, requests fail with 500).
public struct StaticFiles: Middleware {
    /// The directory served, canonical (`realpath`).
    public var rootPath: String { root.path }
    /// The URL prefix the files are under, without a trailing slash (empty for `/`).
    public let urlPrefix: String
    /// How files are served.
    public let configuration: Configuration
    let root: StaticFileRoot
    /// Each worker's small files (`Configuration.cacheValidity`).
    let cache = SchedulerLocal { StaticFileCache() }

    /// Serves the directory `root` (relative to the working directory, or absolute) under
    /// `urlPrefix` (`/` for the whole URL space). Throws when `root` does not exist or is not
    /// a directory. Blocks the calling thread while the root is resolved: call it at startup.
    public init(root: String, urlPrefix: String = "/", configuration: Configuration = Configuration()) throws {
        misusePrecondition(urlPrefix.hasPrefix("/"), "StaticFiles: urlPrefix \"\(urlPrefix)\" must start with /")
        misusePrecondition(configuration.chunkSize >= 1, "StaticFiles: chunkSize must be at least 1")
        if let index = configuration.indexFile {
            misusePrecondition(!index.isEmpty && !index.contains("/") && index != "." && index != "..",
                               "StaticFiles: indexFile \"\(index)\" must be a single file name")
        }
        self.root = try StaticFileRoot(root)
        var prefix = Substring(urlPrefix)
        while prefix.hasSuffix("/") { prefix = prefix.dropLast() }
        self.urlPrefix = String(prefix)
        self.configuration = configuration
    }

    /// Middleware: answers a `GET`/`HEAD` under the prefix that names a file it serves (or a
    /// malformed path under the prefix, with 400); passes everything else to `next`.
    public func respond(to request: Request, context: Context, next: Responder) throws -> Response {
        if let response = try response(to: request) { return response }
        return try next(request, context)
    }

    /// A handler for a wildcard route under the same prefix (`router.get("/assets/*",
    /// files.handler)` with `urlPrefix: "/assets"`): the file's response, `404` when there is
    /// none, `405` (with `Allow: GET, HEAD`) for other methods.
    public var handler: Handler {
        { [self] request, _ in
            guard request.method == .get || request.method == .head else {
                var response = Response.text("Method Not Allowed\n", status: .methodNotAllowed)
                response.headerFields[.allow] = "GET, HEAD"
                return response
            }
            return try response(to: request) ?? .text("Not Found\n", status: .notFound)
        }
    }

    /// The response to `request` when it is a `GET`/`HEAD` under the prefix naming a file
    /// served here (or a malformed path under the prefix: 400); nil otherwise. Parks the fiber
    /// for file I/O. Throws what fails on the server's side (descriptor exhaustion, I/O errors).
    public func response(to request: Request) throws -> Response? {
        guard request.method == .get || request.method == .head else { return nil }
        let requestPath = request.path
        let urlPath: Substring
        if requestPath.utf8.elementsEqual(urlPrefix.utf8) {
            urlPath = ""
        } else if requestPath.utf8.starts(with: urlPrefix.utf8),
                  requestPath.utf8.dropFirst(urlPrefix.utf8.count).first == UInt8(ascii: "/") {
            urlPath = Substring(requestPath.utf8.dropFirst(urlPrefix.utf8.count))
        } else {
            return nil
        }
        let path: StaticFilePath
        do {
            path = try StaticFilePath(urlPath: urlPath)
        } catch {
            return .text("Bad Request: \(error.description)\n", status: .badRequest)
        }
        if path.hasDotName && !configuration.servesDotFiles { return nil }
        return try serve(path, for: request)
    }

    /// Finds what `path` names (redirecting a directory without its slash, choosing the index
    /// and a `.gz` sibling) and answers with it.
    private func serve(_ path: StaticFilePath, for request: Request) throws -> Response? {
        let allowsGzip = configuration.servesPrecompressedGzip && AcceptEncoding.allowsGzip(request.fieldValues("accept-encoding"))
        let cache = configuration.cacheValidity > .zero ? self.cache.current : nil
        let key = StaticFileCache.Key(names: path.names, namesDirectory: path.namesDirectory, allowsGzip: allowsGzip)
        let now = Deadline.runNow
        if let cache, let entry = cache.entry(for: key, now: now) {
            return try respond(from: entry, to: request)
        }
        let dotNames = configuration.servesDotFiles
        guard var opened = try root.open(path.names, allowingDotNames: dotNames) else { return nil }
        var names = path.names
        if opened.status.isDirectory {
            opened.close()
            guard path.namesDirectory else { return redirectToDirectory(path, request: request) }
            guard let index = configuration.indexFile else { return nil }
            names.append(index)
            guard let indexFile = try root.open(names, allowingDotNames: dotNames) else { return nil }
            guard indexFile.status.isRegularFile else { indexFile.close(); return nil }
            opened = indexFile
        } else if path.namesDirectory {
            opened.close()  // `file.txt/`
            return nil
        }
        let fileName = names.last ?? ""
        var gzip = false
        if allowsGzip {
            let sibling = names.dropLast() + [fileName + ".gz"]
            if let compressed = try root.open(Array(sibling), allowingDotNames: dotNames) {
                if compressed.status.isRegularFile {
                    opened.close()
                    opened = compressed
                    gzip = true
                } else {
                    compressed.close()
                }
            }
        }
        let contentType = MediaTypes.type(ofFileName: fileName, in: configuration.mediaTypes)
        let parts = FileResponseParts(status: opened.status, contentType: contentType, gzip: gzip, configuration: configuration)
        if let cache, opened.status.isRegularFile, opened.status.size <= configuration.cachedFileSizeLimit {
            let entry: StaticFileCache.Entry
            do {
                defer { opened.close() }
                entry = StaticFileCache.Entry(parts: parts, bytes: try FileBody.readWhole(opened),
                                              expires: now + configuration.cacheValidity)
            }
            cache.store(entry, for: key, limit: configuration.cacheSizeLimit, now: now)
            return try respond(from: entry, to: request)
        }
        return try respond(parts, to: request, discard: opened.close) { range, isHEAD in
            try FileBody(opened: opened, range: range, chunkSize: configuration.chunkSize).body(isHEAD: isHEAD)
        }
    }

    /// The response from a cached file: no system call (a part of it is copied for a range).
    private func respond(from entry: StaticFileCache.Entry, to request: Request) throws -> Response {
        try respond(entry.parts, to: request, discard: {}) { range, isHEAD in
            if isHEAD { return .sizedStream(length: range.count) { _ in } }
            return .bytes(range == entry.bytes.indices ? entry.bytes : Array(entry.bytes[range]))
        }
    }

    /// The response for a file described by `parts`: `304` when the request's conditions say
    /// it has not changed, `416` for a range outside it, else `200` or `206` with the body
    /// `body` makes for the range. `discard` releases the file when no body is made.
    private func respond(_ parts: FileResponseParts, to request: Request, discard: () -> Void,
                         body: (_ range: Range<Int>, _ isHEAD: Bool) throws -> Response.Body) throws -> Response {
        let size = parts.size
        let ifNoneMatch = request.fieldValues("if-none-match")
        let conditions = ConditionalRequest(
            ifNoneMatch: ifNoneMatch.isEmpty ? nil : EntityTagCondition(fieldValues: ifNoneMatch),
            ifModifiedSince: request.header("if-modified-since").flatMap { HTTPDate.parse($0) },
            ifRange: request.header("if-range"))
        if conditions.isNotModified(tag: parts.tag, modifiedAt: parts.modified) {
            discard()
            return Response(status: .notModified, headerFields: parts.validators)
        }
        var fields = parts.fields
        var status = HTTPResponse.Status.ok
        var range = 0..<size
        if request.method == .get, let rangeField = request.header("range"),
           conditions.rangeApplies(tag: parts.tag, modifiedAt: parts.modified) {
            switch ByteRangeRequest(fieldValue: rangeField, size: size) {
            case .whole:
                break
            case .part(let part):
                status = .partialContent
                range = part
                fields[.contentRange] = "bytes \(part.lowerBound)-\(part.upperBound - 1)/\(size)"
            case .unsatisfiable:
                discard()
                var refused = Response(status: .rangeNotSatisfiable)
                refused.headerFields[.contentRange] = "bytes */\(size)"
                return refused
            }
        }
        return Response(status: status, headerFields: fields, body: try body(range, request.method == .head))
    }

    /// `301` to the directory's URL with its trailing slash (and the query kept). Built from
    /// the prefix and the checked segments, so it always names a path on this server.
    private func redirectToDirectory(_ path: StaticFilePath, request: Request) -> Response {
        var location = urlPrefix + "/" + path.rawSegments.joined(separator: "/")
        if !path.rawSegments.isEmpty { location += "/" }
        if let query = request.query { location += "?" + query }
        var response = Response(status: .movedPermanently)
        response.headerFields[.location] = location
        return response
    }
}

/// What a file response carries besides the bytes, from the file's status: the entity tag and
/// modification time the request's conditions are checked against, and the fields.
package struct FileResponseParts {
    let size: Int
    let tag: EntityTag
    let modified: Int
    /// `ETag`, `Last-Modified`, and the configured `Cache-Control` and `Vary` (a `304`'s fields).
    let validators: HTTPFields
    /// `validators` with `Content-Type`, `Accept-Ranges` and (precompressed) `Content-Encoding`.
    let fields: HTTPFields

    package init(status: File.Status, contentType: String, gzip: Bool, configuration: StaticFiles.Configuration) {
        size = status.size
        tag = EntityTag(file: status, variant: gzip ? "gz" : nil)
        modified = Int(clamping: status.modificationTime)
        var validators = HTTPFields()
        validators[.eTag] = tag.fieldValue
        validators[.lastModified] = HTTPDate.string(unixSeconds: modified)
        if let cacheControl = configuration.cacheControl { validators[.cacheControl] = cacheControl }
        if configuration.servesPrecompressedGzip { validators[.vary] = "Accept-Encoding" }
        self.validators = validators
        var fields = validators
        fields[.contentType] = contentType
        fields[.acceptRanges] = "bytes"
        if gzip { fields[.contentEncoding] = "gzip" }
        self.fields = fields
    }
}
