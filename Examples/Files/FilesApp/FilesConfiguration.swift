import Foundation

/// Where the files example reads and writes, and how large an upload may be. Built once at
/// startup; `Sendable` (every worker reads it).
public struct FilesConfiguration: Sendable {
    /// The directory served at `/` (`GET`, `HEAD`): any directory; by default the demo site
    /// shipped with the example (`demoSiteDirectory`).
    public var siteDirectory: String
    /// The directory `PUT /uploads/:name` writes to and `GET /uploads/:name` serves from. Must
    /// exist when the routes are built; uploads are renamed into it from temporary files in
    /// it (same file system, so the rename is atomic).
    public var uploadsDirectory: String
    /// The largest upload in bytes: a `Content-Length` above it is answered `413` before any
    /// byte is read, a chunked body that grows past it `413` as soon as it does (and nothing
    /// is kept). It is the upload route's own body limit (`Router.put(_:maxBodyBytes:_:)`),
    /// so every other route keeps the server's.
    public var maxUploadBytes: Int
    /// Bytes an upload reads from the connection at a time (at most; a read returns what has
    /// arrived): the memory one upload holds, whatever its size.
    public var uploadChunkBytes: Int

    /// Defaults: the demo site, uploads in `uploadsDirectory`, 1 GiB uploads, 64 KiB chunks.
    /// Stops with a message when `maxUploadBytes` or `uploadChunkBytes` is below 1.
    public init(siteDirectory: String = FilesConfiguration.demoSiteDirectory, uploadsDirectory: String,
                maxUploadBytes: Int = 1 << 30, uploadChunkBytes: Int = 64 << 10) {
        precondition(maxUploadBytes >= 1, "FilesConfiguration: maxUploadBytes must be at least 1")
        precondition(uploadChunkBytes >= 1, "FilesConfiguration: uploadChunkBytes must be at least 1")
        self.siteDirectory = siteDirectory
        self.uploadsDirectory = uploadsDirectory
        self.maxUploadBytes = maxUploadBytes
        self.uploadChunkBytes = uploadChunkBytes
    }

    /// The demo site shipped with the example (an `index.html` and its stylesheet): a resource
    /// of this module, which SwiftPM copies next to the built executable
    /// (`Spindle_FilesApp.resources/Site`). Reading it finds the resource bundle through
    /// Foundation's `Bundle.module`, which stops the program when the bundle is neither next to
    /// the executable nor where it was built.
    public static var demoSiteDirectory: String {
        Bundle.module.url(forResource: "Site", withExtension: nil)?.path ?? "Site"
    }

    /// `spindle-files-uploads` in the temporary directory: where `Files` keeps uploads unless
    /// told otherwise (`--uploads`).
    public static var defaultUploadsDirectory: String {
        URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("spindle-files-uploads").path
    }
}
