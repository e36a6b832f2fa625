// Files: a static site and streamed uploads, the example `make run-files` starts.
//
//   GET    /…                 the site directory: index.html, ranges, ETag/Last-Modified, 304
//   PUT    /uploads/:name     the body streamed to disk → 201 Created (Location) or 200 (replaced)
//   GET    /uploads/:name     the uploaded file, with ranges and 304
//   DELETE /uploads/:name     → 204, or 404
//
//   swift run -c release Files [--host 127.0.0.1] [--port 8080] [--workers N] [--site DIR]
//                              [--uploads DIR] [--max-upload-bytes 1073741824]
//
// The site is the demo shipped with the example unless --site says otherwise; uploads go to
// spindle-files-uploads in the temporary directory (created) unless --uploads says otherwise.
// SIGTERM or SIGINT (Ctrl-C) stops the server gracefully.
import ArgumentParser
import FilesApp
import Foundation
import Logging
import ServiceLifecycle
import Spindle

@main
struct FilesServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "Files", abstract: "Spindle's files example: a static site and streamed uploads.")

    @Option(help: "Address or host name to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks one).") var port = 8080
    @Option(help: "Worker threads (default: one per usable CPU).") var workers: Int?
    @Option(help: "The directory served at / (default: the demo site).") var site = FilesConfiguration.demoSiteDirectory
    @Option(help: "The directory uploads are written to (created when missing).") var uploads = FilesConfiguration.defaultUploadsDirectory
    @Option(help: "The largest upload, in bytes: above it, 413.") var maxUploadBytes = 1 << 30
    @Option(help: "Request ids and a log line per request: on or off.") var accessLog = "on"

    func run() async throws {
        guard maxUploadBytes >= 1 else { throw ValidationError("--max-upload-bytes must be at least 1") }
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        let logger = Logger(label: "files")
        let router = Router<Handler>()
        if accessLog == "on" {
            router.add(middleware: RequestIDMiddleware()).add(middleware: AccessLogMiddleware())
        }
        try FilesRoutes.add(to: router, configuration: FilesConfiguration(siteDirectory: site, uploadsDirectory: uploads,
                                                                         maxUploadBytes: maxUploadBytes))
        var configuration = ServerConfiguration(host: host, port: port)
        configuration.workers = workers
        let server = Server(router: router, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        print("Spindle Files: http://\(host):\(port)/ (site \(site)), PUT/GET/DELETE http://\(host):\(port)/uploads/NAME (in \(uploads)) (Ctrl-C stops gracefully)")
        try await group.run()
    }
}
