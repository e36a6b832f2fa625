/// `Content-Type` values by file extension, for `StaticFiles`. Text types carry
/// `; charset=utf-8`; an extension not in the table is `application/octet-stream`.
public enum MediaTypes {
    /// The type of files whose extension is not in the table.
    public static let fallback = "application/octet-stream"

    /// Common web types by lowercase extension (without the dot). Start from it to add or
    /// change entries (`StaticFiles.Configuration.mediaTypes`).
    public static let common: [String: String] = [
        // Text
        "html": "text/html; charset=utf-8",
        "htm": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "mjs": "text/javascript; charset=utf-8",
        "txt": "text/plain; charset=utf-8",
        "md": "text/markdown; charset=utf-8",
        "csv": "text/csv; charset=utf-8",
        "ics": "text/calendar; charset=utf-8",
        "vtt": "text/vtt; charset=utf-8",
        // Structured data
        "json": "application/json",
        "map": "application/json",
        "webmanifest": "application/manifest+json",
        "xml": "application/xml",
        "wasm": "application/wasm",
        "pdf": "application/pdf",
        // Images
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
        "avif": "image/avif",
        "svg": "image/svg+xml",
        "ico": "image/vnd.microsoft.icon",
        "bmp": "image/bmp",
        // Fonts
        "woff": "font/woff",
        "woff2": "font/woff2",
        "ttf": "font/ttf",
        "otf": "font/otf",
        // Audio and video
        "mp3": "audio/mpeg",
        "ogg": "audio/ogg",
        "wav": "audio/wav",
        "mp4": "video/mp4",
        "webm": "video/webm",
        // Archives
        "zip": "application/zip",
        "gz": "application/gzip",
        "tar": "application/x-tar",
    ]

    /// The type of `fileName` in `table`: by the text after its last dot, lowercased (a name
    /// that only starts with a dot has no extension). Cost: lowercases the extension.
    static func type(ofFileName fileName: String, in table: [String: String]) -> String {
        guard let dot = fileName.lastIndex(of: "."), dot != fileName.startIndex else { return fallback }
        let fileExtension = fileName[fileName.index(after: dot)...].lowercased()
        return table[fileExtension] ?? fallback
    }
}
