import HTTPTypes
import Spindle
import SpindleHTTP

/// The files example's routes:
///
/// | route | answer |
/// |---|---|
/// | `GET /…` | the site directory (`StaticFiles`): `index.html` for `/`, ranges, `ETag`/`Last-Modified` and `304`, `404` for what is not there |
/// | `PUT /uploads/:name` | streams the body to `uploads/name` (`UploadStore`): `201 Created` with `Location` for a new name, `200 OK` when it replaced a file; `413` above `maxUploadBytes` |
/// | `GET /uploads/:name` | the uploaded file, with the same `StaticFiles` machinery (ranges, `ETag`, `304`) |
/// | `DELETE /uploads/:name` | `204 No Content`, or `404` when there is no such file |
///
/// Names are checked (`UploadName`): `400` for a slash (also `%2F`), `..`, a leading dot, a
/// control character or more than 255 bytes; the router answers a dot-segment (`..`,
/// `%2e%2e`) with `400` before any route. `201` and `200` answer with a line of text naming the
/// file and its size. HEAD works wherever GET does.
public enum FilesRoutes {
    /// A router with the files routes for `configuration` and no middleware. Throws when the
    /// site or uploads directory is missing. Blocks while resolving them: call at startup.
    public static func router(configuration: FilesConfiguration) throws -> Router<Handler> {
        let router = Router<Handler>()
        try add(to: router, configuration: configuration)
        return router
    }

    /// Adds the files routes to `router` (before it serves). Throws when the site or uploads
    /// directory is missing; blocks while resolving them (`StaticFiles`): call at startup.
    public static func add(to router: Router<Handler>, configuration: FilesConfiguration) throws {
        let site = try StaticFiles(root: configuration.siteDirectory, urlPrefix: "/")
        // Uploads change under the server: no per-worker memory cache, every request looks at the disk.
        let uploaded = try StaticFiles(root: configuration.uploadsDirectory, urlPrefix: "/uploads",
                                       configuration: StaticFiles.Configuration(cacheValidity: .zero))
        let store = UploadStore(directory: uploaded.rootPath, maxBytes: configuration.maxUploadBytes,
                                chunkBytes: configuration.uploadChunkBytes)

        router.put("/uploads/:name", maxBodyBytes: configuration.maxUploadBytes) { request, context in
            let name = try UploadName(context.parameters["name"] ?? "")
            switch try store.store(name, from: request.body) {
            case .created(let bytes):
                var response = Response.text("created /uploads/\(name) (\(bytes) bytes)\n", status: .created)
                response.headerFields[.location] = "/uploads/" + PercentEncoding.encode(name.value, for: .pathSegment)
                return response
            case .replaced(let bytes):
                return .text("replaced /uploads/\(name) (\(bytes) bytes)\n")
            }
        }
        router.get("/uploads/:name") { request, context in
            _ = try UploadName(context.parameters["name"] ?? "")
            return try uploaded.handler(request, context)
        }
        router.delete("/uploads/:name") { _, context in
            let name = try UploadName(context.parameters["name"] ?? "")
            guard try store.remove(name) else { return .text("Not Found\n", status: .notFound) }
            return Response(status: .noContent)
        }
        router.get("/*", site.handler)
    }
}
